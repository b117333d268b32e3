"""The `gerbang` command: one entry point over the site's commands and the registry's.

It is the only package that sees both services; each keeps its own parser and handlers.
"""
