"""Quoting for names and values that reach SQL from data: the only way they get there."""

from __future__ import annotations

from pathlib import Path


def quote_ident(name: str) -> str:
    """An identifier, double-quoted: safe for any name that comes from data."""
    return '"' + name.replace('"', '""') + '"'


def quote_literal(value: str | Path) -> str:
    """A string literal (a path, or a value that comes from data), single-quoted."""
    return "'" + str(value).replace("'", "''") + "'"
