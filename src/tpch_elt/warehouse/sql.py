"""Quoting for names and values that reach SQL from data: the only way they get there."""

from __future__ import annotations

import string
from pathlib import Path

# DuckDB matches identifiers case-insensitively for ASCII letters only.
_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


def quote_ident(name: str) -> str:
    """An identifier, double-quoted: safe for any name that comes from data."""
    return '"' + name.replace('"', '""') + '"'


def quote_literal(value: str | Path) -> str:
    """A string literal (a path, or a value that comes from data), single-quoted."""
    return "'" + str(value).replace("'", "''") + "'"


def fold_ident(name: str) -> str:
    """A column name as DuckDB compares it: ASCII letters lowercased, every other character kept.

    `str.lower()` would also fold `Ü` to `ü`, a name DuckDB then cannot find
    in a file whose column is `ÜBER`.
    """
    return name.translate(_ASCII_LOWER)
