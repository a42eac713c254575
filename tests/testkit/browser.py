"""The real browser the tests drive: Debian's Chromium through Playwright's
Python package (its own browser download cannot run here), headless."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

CHROMIUM = Path(shutil.which("chromium") or "/usr/bin/chromium")
# No background traffic of Chromium's own: a test sees only what a page asks for.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]

# CI installs chromium (.ci/run), so there the browser tests must run;
# elsewhere they say why they did not.
requires_chromium = pytest.mark.skipif(
    not CHROMIUM.is_file() and not os.environ.get("CI"),
    reason="Debian chromium is not installed (apt-get install chromium; .ci/run does it)",
)


def launch(playwright):
    """A headless Chromium from `sync_playwright()`."""
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
