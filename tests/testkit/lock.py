"""The lock (requirements/*.txt, written by `make lock`), read as data.

A lock file is uv's `pip compile --generate-hashes` output: a header of
comments, then one entry per package,

    name==version [; marker] \\
        --hash=sha256:... \\
        --hash=sha256:...
        # via
        #   tpch-elt (pyproject.toml)
        #   another-package

Anything else in the file (an option, an unpinned or URL requirement) is
reported as a problem, not skipped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from packaging.markers import Marker
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from testkit.cli import REPO_ROOT

REQUIREMENTS_DIR = REPO_ROOT / "requirements"
MAKEFILE = REPO_ROOT / "Makefile"
# How uv names the requirement files a package was asked for by.
FROM_PYPROJECT = "tpch-elt (pyproject.toml)"
_HASH = re.compile(r"--hash=sha256:[0-9a-f]{64}")


@dataclass(frozen=True)
class Pin:
    name: NormalizedName
    version: Version
    marker: Marker | None
    hashes: tuple[str, ...]
    via: tuple[str, ...]
    line: int

    def applies(self, environment: dict[str, str]) -> bool:
        return self.marker is None or self.marker.evaluate(environment)


@dataclass(frozen=True)
class Lock:
    path: Path
    pins: tuple[Pin, ...]
    problems: tuple[str, ...]

    def in_environment(self, environment: dict[str, str]) -> dict[NormalizedName, list[Pin]]:
        """The pins pip installs in that environment, by name (more than one is a problem)."""
        chosen: dict[NormalizedName, list[Pin]] = {}
        for pin in self.pins:
            if pin.applies(environment):
                chosen.setdefault(pin.name, []).append(pin)
        return chosen


def _via_comments(lines: list[str], index: int) -> tuple[list[str], int]:
    """The indented `# via ...` comments from `index` on (what asked for a pin), and the next index."""
    via: list[str] = []
    while index < len(lines) and lines[index].lstrip().startswith("#") and lines[index][0].isspace():
        comment = lines[index].strip().lstrip("#").strip()
        index += 1
        if comment == "via" or comment.startswith("via "):
            comment = comment.removeprefix("via").strip()
        if comment:
            via.append(comment)
    return via, index


def read_lock(path: Path) -> Lock:
    pins: list[Pin] = []
    problems: list[str] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    index = 0
    while index < len(lines):
        start = index
        line = lines[index]
        index += 1
        if not line.strip() or line.startswith("#"):
            continue
        if line[0].isspace():
            problems.append(f"{path.name}:{start + 1}: stray line {line.strip()!r}")
            continue
        entry = [line]
        while entry[-1].endswith("\\") and index < len(lines):
            entry.append(lines[index])
            index += 1
        via, index = _via_comments(lines, index)
        text = " ".join(part.strip().removesuffix("\\").strip() for part in entry)
        requirement_text, *hash_parts = text.split(" --hash=")
        hashes = tuple(f"--hash={part.strip()}" for part in hash_parts)
        where = f"{path.name}:{start + 1}"
        try:
            requirement = Requirement(requirement_text)
        except InvalidRequirement as error:
            problems.append(f"{where}: not a requirement: {requirement_text!r} ({error})")
            continue
        specifiers = list(requirement.specifier)
        if (
            requirement.url
            or requirement.extras
            or len(specifiers) != 1
            or specifiers[0].operator != "=="
            or "*" in specifiers[0].version
        ):
            problems.append(f"{where}: {requirement_text!r} is not pinned with == to one version")
            continue
        if not hashes:
            problems.append(f"{where}: {requirement_text} has no --hash")
        problems.extend(
            f"{where}: {requirement.name}: malformed {h}" for h in hashes if not _HASH.fullmatch(h)
        )
        pins.append(
            Pin(
                name=canonicalize_name(requirement.name),
                version=Version(specifiers[0].version),
                marker=requirement.marker,
                hashes=hashes,
                via=tuple(via),
                line=start + 1,
            )
        )
    return Lock(path, tuple(pins), tuple(problems))


def lock_python() -> str:
    """The Python the lock is resolved from (the Makefile's LOCK_PYTHON)."""
    match = re.search(r"^LOCK_PYTHON\s*:?=\s*(\S+)", MAKEFILE.read_text(encoding="utf-8"), re.MULTILINE)
    assert match, "the Makefile sets no LOCK_PYTHON"
    return match.group(1)


def linux_environment(machine: str, python: str) -> dict[str, str]:
    """Marker values of CPython `python` on Linux on `machine` (CI, the image)."""
    return {
        "implementation_name": "cpython",
        "implementation_version": f"{python}.0",
        "os_name": "posix",
        "platform_machine": machine,
        "platform_python_implementation": "CPython",
        "platform_release": "",
        "platform_system": "Linux",
        "platform_version": "",
        "python_full_version": f"{python}.0",
        "python_version": python,
        "sys_platform": "linux",
    }


def pinned_version(path: Path, name: str, environment: dict[str, str]) -> Version | None:
    """The version of `name` the lock at `path` installs in `environment`, if any."""
    pins = read_lock(path).in_environment(environment).get(canonicalize_name(name), [])
    assert len(pins) <= 1, f"{path.name} pins {name} more than once"
    return pins[0].version if pins else None
