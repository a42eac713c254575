"""The lock (requirements/, README "Installs: the lock") agrees with
pyproject.toml, and every install uses it with its hashes.

Each lock must pin every requirement of pyproject.toml's dependencies and of
its extras at a version the requirement's specifier accepts, on Linux x86_64
and aarch64 at the lock's Python, every pin with hashes, and hold nothing
pyproject.toml no longer asks for. Static checks: no network, no pip, no
process. When one fails after an edit of pyproject.toml, `make lock` writes
the lock again (tests/unit/orchestration/test_airflow_containers.py checks the image's).
"""

from __future__ import annotations

import re
import shlex
import tomllib

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from testkit.cli import REPO_ROOT
from testkit.lock import (
    FROM_PYPROJECT,
    MAKEFILE,
    REQUIREMENTS_DIR,
    Lock,
    linux_environment,
    lock_python,
    read_lock,
)
from testkit.workflow import workflow

PYPROJECT = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
# Each lock with the extras it holds besides the dependencies: one per way the project is installed.
FLAVOURS = {
    "dev.txt": ("dev", "airflow", "snowflake"),  # make install, so make run, make test and CI
    "airflow.txt": ("airflow",),  # the Dockerfile
    "airflow-snowflake.txt": ("airflow", "snowflake"),  # the image for the snowflake target
    "base.txt": (),  # the pipeline alone
}
# pip and the build backend, installed before any flavour; written from build.in.
BUILD = "build.txt"
BUILD_INPUT = "requirements/build.in"
# CI and the image: CPython at the lock's Python on Linux, on both architectures.
ENVIRONMENTS = {machine: linux_environment(machine, lock_python()) for machine in ("x86_64", "aarch64")}
FIX = "run `make lock` and commit requirements/"


def lock(name: str) -> Lock:
    return read_lock(REQUIREMENTS_DIR / name)


def requirements_of(extras: tuple[str, ...], environment: dict[str, str]) -> list[Requirement]:
    """pyproject.toml's requirements for an install with these extras, in that environment."""
    project = PYPROJECT["project"]
    asked = [(Requirement(text), "") for text in project["dependencies"]]
    for extra in extras:
        asked += [(Requirement(text), extra) for text in project["optional-dependencies"][extra]]
    return [
        requirement
        for requirement, extra in asked
        if requirement.marker is None or requirement.marker.evaluate({**environment, "extra": extra})
    ]


def build_requirements() -> list[Requirement]:
    lines = (REPO_ROOT / BUILD_INPUT).read_text(encoding="utf-8").splitlines()
    return [Requirement(line) for line in lines if line.strip() and not line.startswith("#")]


def makefile() -> str:
    # one logical line per backslash-continued line
    return re.sub(r"\\\n\s*", " ", MAKEFILE.read_text(encoding="utf-8"))


def recipe(target: str) -> list[str]:
    lines = makefile().splitlines()
    start = next(i for i, line in enumerate(lines) if re.match(rf"{re.escape(target)}:(?!=)", line))
    body = []
    for line in lines[start + 1 :]:
        if not line.startswith("\t"):
            break
        body.append(line.strip())
    return body


def lock_commands() -> dict[str, dict[str, list[str]]]:
    """What `make lock` writes: each output file with its inputs, extras and constraints."""
    commands = {}
    for line in recipe("lock"):
        words = shlex.split(line)
        assert words[0] == "$(UV_COMPILE)", f"make lock runs {line!r}"
        parsed: dict[str, list[str]] = {"inputs": [], "extras": [], "constraints": [], "output": []}
        options = {"--extra": "extras", "-c": "constraints", "-o": "output"}
        words = iter(words[1:])
        for word in words:
            if word in options:
                parsed[options[word]].append(next(words))
            elif not word.startswith("-") and not word.startswith("$("):
                parsed["inputs"].append(word)
        (output,) = parsed.pop("output")
        commands[output] = parsed
    return commands


def test_make_lock_writes_every_lock_from_pyproject() -> None:
    commands = lock_commands()
    files = {path.name for path in REQUIREMENTS_DIR.glob("*.txt")}
    assert files == {*FLAVOURS, BUILD}, "a lock file that `make lock` does not write, or one it misses"
    assert set(commands) == {f"requirements/{name}" for name in files}
    # the dev lock holds every extra: make install, lint and the tests use them all
    assert set(FLAVOURS["dev.txt"]) == set(PYPROJECT["project"]["optional-dependencies"])
    for name, extras in FLAVOURS.items():
        command = commands[f"requirements/{name}"]
        assert command["inputs"] == ["pyproject.toml"], name
        assert sorted(command["extras"]) == sorted(extras), name
        # resolved first; every other lock is constrained to its pins
        assert command["constraints"] == ([] if name == "dev.txt" else ["requirements/dev.txt"]), name
    assert commands[f"requirements/{BUILD}"] == {
        "inputs": [BUILD_INPUT],
        "extras": [],
        "constraints": ["requirements/dev.txt"],
    }
    uv_compile = re.search(r"^UV_COMPILE = (.*)$", makefile(), re.MULTILINE)
    assert uv_compile, "the Makefile defines no UV_COMPILE"
    words = shlex.split(uv_compile.group(1))
    assert words[:3] == ["$(BIN)/uv", "pip", "compile"]
    assert {"--universal", "--generate-hashes"} <= set(words)
    assert words[words.index("--python-version") + 1] == "$(LOCK_PYTHON)"
    # the uv that writes the lock is the dev extra's pin, installed from the lock
    dev = [Requirement(text) for text in PYPROJECT["project"]["optional-dependencies"]["dev"]]
    (uv,) = [requirement for requirement in dev if requirement.name == "uv"]
    (pinned,) = [pin for pin in lock("dev.txt").pins if pin.name == "uv"]
    assert str(uv.specifier) == f"=={pinned.version}"


@pytest.mark.parametrize("name", [*FLAVOURS, BUILD])
def test_every_line_of_the_lock_is_pinned_with_hashes(name: str) -> None:
    parsed = lock(name)
    assert parsed.pins, f"{name} pins nothing"
    assert not parsed.problems, "\n".join(parsed.problems)
    for machine, environment in ENVIRONMENTS.items():
        twice = {
            package: [f"{pin.version} (line {pin.line})" for pin in pins]
            for package, pins in parsed.in_environment(environment).items()
            if len(pins) > 1
        }
        assert not twice, f"{name} pins these more than once on {machine}: {twice}"


@pytest.mark.parametrize("machine", ENVIRONMENTS)
@pytest.mark.parametrize("name", FLAVOURS)
def test_the_lock_satisfies_pyproject(name: str, machine: str) -> None:
    environment = ENVIRONMENTS[machine]
    pinned = lock(name).in_environment(environment)
    wrong = []
    for requirement in requirements_of(FLAVOURS[name], environment):
        pins = pinned.get(canonicalize_name(requirement.name), [])
        if not pins:
            wrong.append(f"{requirement.name} is not pinned (pyproject.toml: {requirement})")
        for pin in pins:
            if not requirement.specifier.contains(pin.version, prereleases=True):
                wrong.append(
                    f"{requirement.name}=={pin.version} (line {pin.line}), pyproject.toml: {requirement}"
                )
    assert not wrong, (
        f"requirements/{name} on {machine} no longer satisfies pyproject.toml ({FIX}):\n" + "\n".join(wrong)
    )


@pytest.mark.parametrize("name", FLAVOURS)
def test_the_lock_holds_nothing_pyproject_does_not_ask_for(name: str) -> None:
    parsed = lock(name)
    asked = {
        canonicalize_name(requirement.name)
        for environment in ENVIRONMENTS.values()
        for requirement in requirements_of(FLAVOURS[name], environment)
    }
    direct = {pin.name for pin in parsed.pins if FROM_PYPROJECT in pin.via}
    assert direct == asked, (
        f"requirements/{name} was locked for another pyproject.toml: it pins {sorted(direct - asked)} "
        f"for it, which it no longer asks for, and lacks its {sorted(asked - direct)} ({FIX})"
    )
    # everything else is there because a package of the same lock requires it
    names = {pin.name for pin in parsed.pins}
    orphans = [
        pin.name
        for pin in parsed.pins
        if pin.name not in direct and not {canonicalize_name(source) for source in pin.via} & names
    ]
    assert not orphans, f"requirements/{name}: nothing in it requires {orphans} ({FIX})"


@pytest.mark.parametrize("name", [name for name in [*FLAVOURS, BUILD] if name != "dev.txt"])
def test_every_lock_pins_what_the_dev_lock_pins(name: str) -> None:
    """The image installs the versions the tests ran with (make lock constrains every lock to dev.txt)."""
    # markers may differ (a package only one platform needs in a smaller lock), versions may not
    dev: dict[str, dict[str, set[str]]] = {}
    for pin in lock("dev.txt").pins:
        dev.setdefault(pin.name, {})[str(pin.version)] = set(pin.hashes)
    for pin in lock(name).pins:
        if pin.name not in dev:
            assert name == BUILD, f"{name} pins {pin.name}, which dev.txt does not ({FIX})"
            continue
        assert dev[pin.name].get(str(pin.version)) == set(pin.hashes), (
            f"{name} pins {pin.name}=={pin.version}, dev.txt {sorted(dev[pin.name])} ({FIX})"
        )


def test_the_build_lock_holds_pip_and_pyproject_build_backend() -> None:
    asked = build_requirements()
    assert sorted(str(requirement) for requirement in asked) == sorted(
        [*PYPROJECT["build-system"]["requires"], "pip"]
    ), f"{BUILD_INPUT} must list pyproject.toml's [build-system] requires and pip"
    parsed = lock(BUILD)
    for environment in ENVIRONMENTS.values():
        pinned = parsed.in_environment(environment)
        for requirement in asked:
            (pin,) = pinned[canonicalize_name(requirement.name)]
            assert requirement.specifier.contains(pin.version, prereleases=True), f"{pin.name}=={pin.version}"
    direct = {pin.name for pin in parsed.pins if f"-r {BUILD_INPUT}" in pin.via}
    assert direct == {canonicalize_name(requirement.name) for requirement in asked}


def prerequisites(target: str) -> list[str]:
    (rule,) = re.findall(rf"^{re.escape(target)}:(?!=)(.*)$", makefile(), re.MULTILINE)
    return rule.split()


def test_make_install_installs_the_lock_with_hashes_then_the_project_alone() -> None:
    # a new lock installs the dependencies again; a new pyproject.toml, the project
    assert {f"requirements/{BUILD}", "requirements/dev.txt"} <= set(prerequisites("$(BIN)/.dependencies"))
    assert {"pyproject.toml", "$(BIN)/.dependencies"} <= set(prerequisites("$(BIN)/.installed"))
    # make lock needs uv, not a project the stale lock may fail pip check for
    assert prerequisites("lock") == ["$(BIN)/.dependencies"]
    steps = recipe("$(BIN)/.dependencies") + recipe("$(BIN)/.installed")
    installs = [shlex.split(line) for line in steps if " pip install " in line]
    assert [words[words.index("-r") + 1] for words in installs if "-r" in words] == [
        f"requirements/{BUILD}",
        "requirements/dev.txt",
    ], "the locked pip first, then the dev lock"
    *locked, project = installs
    for words in locked:
        assert "--require-hashes" in words, words
    assert {"--no-deps", "--no-build-isolation", "-e", "."} <= set(project), project
    assert project[-2:] == ["-e", "."]
    assert recipe("$(BIN)/.installed")[-2].endswith("-m pip check")
    # every target that needs the environment goes through the stamp
    for target in ("install", "run", "lint", "test-e2e", "test-airflow"):
        assert "$(BIN)/.installed" in prerequisites(target), target
    for target in ("test", "test-fast"):
        assert prerequisites(target) == ["lint"], target


def test_ci_installs_only_through_make_and_caches_pip_by_the_lock() -> None:
    for name, job in workflow()["jobs"].items():
        caches = [step for step in job["steps"] if str(step.get("uses", "")).startswith("actions/cache")]
        assert caches, f"job {name} keeps no pip cache"
        for step in caches:
            assert "hashFiles('requirements/*.txt')" in step["with"]["key"], (
                f"job {name}: {step['with']['key']}"
            )
        for step in job["steps"]:
            assert "pip" not in str(step.get("run", "")), f"job {name} runs pip itself"
    ci_run = (REPO_ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "pip " not in ci_run and re.search(r"^make test$", ci_run, re.MULTILINE)
