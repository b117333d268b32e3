"""The officers' pages as native ES modules, checked without a browser: every page loads one
module script and nothing inline (the CSP allows no other), every import names a file that exports
it, each page's strings hold the same keys in Indonesian and English and cover its HTML, the
desk's province codes equal enrollment/identifiers.py's, and the assets are served as JavaScript
with the asset headers.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from enrollment.identifiers import PROVINCE_CODES
from httpkit.pages import ASSET_HEADERS, SHARED_WEB_DIR, mount_assets

ROOT = Path(__file__).resolve().parents[2]
EDGE_WEB = ROOT / "edge" / "web"
REGISTRY_WEB = ROOT / "registry" / "web"
PAGES = {  # page -> (its folder, its strings module)
    "desk": (EDGE_WEB, "desk-strings.js"),
    "gate": (EDGE_WEB, "gate-strings.js"),
    "pusat": (REGISTRY_WEB, "pusat-strings.js"),
}
MODULES = sorted([*EDGE_WEB.glob("*.js"), *REGISTRY_WEB.glob("*.js"), *SHARED_WEB_DIR.glob("*.js")])

IMPORT = re.compile(r"^import\s*\{([^}]*)\}\s*from\s*\"([^\"]+)\";", re.MULTILINE)
EXPORT = re.compile(r"^export\s+(?:async\s+)?(?:function|class|const|let)\s+([\w$]+)", re.MULTILINE)
STRING_KEY = re.compile(r"^ {4}(\w+):", re.MULTILINE)


class _PageScan(HTMLParser):
    """The script tags, inline handlers and data-i18n keys of one HTML page."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[dict[str, str | None]] = []
        self.inline: list[str] = []
        self.handlers: list[str] = []
        self.i18n: set[str] = set()
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        if tag == "script":
            self.scripts.append(named)
            self._in_script = True
        self.handlers += [name for name in named if name.startswith("on")]
        if named.get("data-i18n"):
            self.i18n.add(str(named["data-i18n"]))

    def handle_endtag(self, tag: str) -> None:
        self._in_script = self._in_script and tag != "script"

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline.append(data.strip())


def _scan(page: str) -> _PageScan:
    folder, _ = PAGES[page]
    scan = _PageScan()
    scan.feed((folder / f"{page}.html").read_text(encoding="utf-8"))
    return scan


def _resolve(module: Path, specifier: str) -> Path:
    """The file an import specifier names, as the apps serve /web/shared/ and /web/."""
    if specifier.startswith("/web/shared/"):
        return SHARED_WEB_DIR / specifier.removeprefix("/web/shared/")
    assert specifier.startswith("./"), (
        f"{module.name}: import {specifier!r} is neither ./ nor /web/shared/"
    )
    return module.parent / specifier.removeprefix("./")


def _string_keys(path: Path) -> dict[str, set[str]]:
    """The keys of each language block ({id: {...}, en: {...}}) of a strings module."""
    text = path.read_text(encoding="utf-8")
    blocks = re.findall(r"^ {2}(id|en): \{\n(.*?)^ {2}\},", text, re.MULTILINE | re.DOTALL)
    assert [lang for lang, _ in blocks] == ["id", "en"], (
        f"{path.name}: Indonesian first, then English"
    )
    return {lang: set(STRING_KEY.findall(body)) for lang, body in blocks}


@pytest.mark.parametrize("page", sorted(PAGES))
def test_each_page_loads_one_module_script_and_nothing_inline(page: str) -> None:
    scan = _scan(page)
    assert scan.scripts == [{"type": "module", "src": f"/web/{page}.js"}]
    assert scan.inline == [] and scan.handlers == []


@pytest.mark.parametrize("module", MODULES, ids=lambda m: f"{m.parent.parent.name}/{m.name}")
def test_every_import_names_a_module_that_exports_it(module: Path) -> None:
    text = module.read_text(encoding="utf-8")
    assert "window.STRINGS" not in text and "require(" not in text
    for names, specifier in IMPORT.findall(text):
        target = _resolve(module, specifier)
        assert target.is_file(), f"{module.name} imports {specifier}, which does not exist"
        exported = set(EXPORT.findall(target.read_text(encoding="utf-8")))
        wanted = {name.split(" as ")[0].strip() for name in names.split(",") if name.strip()}
        assert wanted <= exported, f"{module.name}: {specifier} does not export {wanted - exported}"
    # Every import is a named one the pattern above saw: no default or namespace imports.
    assert len(re.findall(r"^import\b", text, re.MULTILINE)) == len(IMPORT.findall(text))


def test_the_shared_folder_holds_modules_only_no_classic_script() -> None:
    for module in SHARED_WEB_DIR.glob("*.js"):
        assert EXPORT.search(module.read_text(encoding="utf-8")), f"{module.name} exports nothing"


@pytest.mark.parametrize("page", sorted(PAGES))
def test_strings_hold_the_same_keys_in_both_languages_and_cover_the_page(page: str) -> None:
    folder, strings = PAGES[page]
    keys = _string_keys(folder / strings)
    shared = _string_keys(SHARED_WEB_DIR / "words.js")
    assert keys["id"] == keys["en"], keys["id"] ^ keys["en"]
    assert shared["id"] == shared["en"]
    assert not keys["id"] & shared["id"], "a page redefines a word of the shared vocabulary"
    assert _scan(page).i18n <= keys["id"] | shared["id"]


def test_pages_say_warga_binaan_never_narapidana() -> None:
    for path in [*EDGE_WEB.iterdir(), *REGISTRY_WEB.iterdir(), *SHARED_WEB_DIR.iterdir()]:
        assert "narapidana" not in path.read_text(encoding="utf-8").lower(), path.name


def test_desk_province_codes_equal_the_python_list() -> None:
    text = (EDGE_WEB / "identity-checks.js").read_text(encoding="utf-8")
    found = re.search(
        r"export const PROVINCE_CODES = Object\.freeze\(\[(.*?)\]\);", text, re.DOTALL
    )
    assert found, "identity-checks.js no longer declares PROVINCE_CODES as a frozen array"
    listed = re.findall(r"\"(\d{2})\"", re.sub(r"//[^\n]*", "", found.group(1)))
    assert len(listed) == len(set(listed)), "a province code is listed twice"
    assert set(listed) == set(PROVINCE_CODES)


def test_assets_are_served_as_javascript_and_revalidated() -> None:
    app = FastAPI()
    mount_assets(app, EDGE_WEB)
    with TestClient(app) as client:
        for path in ("/web/shared/api.js", "/web/desk.js", "/web/shared/common.css"):
            response = client.get(path)
            assert response.status_code == 200, path
            for name, value in ASSET_HEADERS.items():
                assert response.headers[name] == value
        assert client.get("/web/desk.js").headers["content-type"].startswith("text/javascript")
        assert client.get("/web/shared/common.js").status_code == 404
