"""Every error class Gerbang declares, found by importing the packages named and walking the tree.

The catalogue serves tests and documentation (one table of codes, statuses and messages). It
imports nothing of the project at module level: the caller names the packages to walk, so this
leaf module stays below every package it looks into.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterable, Iterator

from kernel.errors import GerbangError

PROJECT_PACKAGES = (
    "kernel",
    "models",
    "gallery_sync",
    "enrollment",
    "site_sync",
    "httpkit",
    "edge",
    "registry",
    "console",
)


def import_all(packages: Iterable[str] = PROJECT_PACKAGES) -> list[str]:
    """Import every module under the named packages; the names imported, in walk order.

    An import that fails raises: a module skipped would hide the errors it declares.
    """
    names = []
    for name in packages:
        package = importlib.import_module(name)
        names.append(name)
        for module in pkgutil.walk_packages(package.__path__, f"{name}."):
            importlib.import_module(module.name)
            names.append(module.name)
    return names


def _subclasses(cls: type[GerbangError]) -> Iterator[type[GerbangError]]:
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def all_error_classes(packages: Iterable[str] = PROJECT_PACKAGES) -> list[type[GerbangError]]:
    """GerbangError and every subclass declared in the named packages, parents before children."""
    prefixes = tuple(packages)
    import_all(prefixes)
    found: dict[type[GerbangError], None] = {GerbangError: None}
    for cls in _subclasses(GerbangError):
        if cls.__module__.split(".")[0] in prefixes:
            found[cls] = None
    return list(found)
