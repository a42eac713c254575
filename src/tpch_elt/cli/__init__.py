"""The `tpch-elt` command line: commands (Typer), the steps they run, and what they print."""

from tpch_elt.cli.commands import app, main

__all__ = ["app", "main"]
