"""CI/CD with environments: a pull request is built as an environment of main's prod; main promotes.

    python .ci/environments.py state   --state DIR   (make ci-state)    prod from scratch, packed into DIR
    python .ci/environments.py pr      --state DIR   (make ci-env)      main's prod; the change as environment `pr`:
                                                                         `env build` (exit 1 on an error-severity
                                                                         test), `env diff`
    python .ci/environments.py promote --state DIR   (make ci-promote)  main's prod; the merged code as environment
                                                                         `main`: build, diff, `env promote`, then
                                                                         prod's own build; packed into DIR

The state is DIR/prod.tar: prod's data directory (warehouse, published
catalog, the segment store with its records and manifests; no landing
files), tarred because upload-artifact skips hidden paths such as the
store's `.publications/`. DIR/state.json says when it was made.

The diff is written to data/ci/diff/ (diff-prod.md, .json, .html: the
workflow uploads it) and its Markdown is appended to $GITHUB_STEP_SUMMARY
when that is set (the job's summary page).

Without a usable state (none yet, the artifact expired, or older than
MAX_STATE_AGE, past which prod's sources would fail their freshness check):
`pr` builds prod from the change itself (everything built and tested,
nothing to compare with) and `promote` builds prod from scratch. Runs in a
scratch data directory (--data-dir, default data/ci): never the warehouse
of `make run`.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import tarfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
STATE_FILE = "prod.tar"
STATE_INFO = "state.json"
# prod's raw orders fail freshness 48 h after their load (dbt_project.yml): a
# state older than this is rebuilt rather than promoted onto.
MAX_STATE_AGE = timedelta(hours=24)
# What prod's data directory keeps in the state (landing files are not needed to build).
KEPT = ("warehouse.duckdb", "warehouse.published.duckdb", "warehouse.published")


def _env() -> dict[str, str]:
    """This process's environment without the caller's TPCH_ELT_* settings (the dbt project's
    directory excepted), telemetry off."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("TPCH_ELT_") or key == "TPCH_ELT_PROJECT_DIR"
    }
    env.update({"DO_NOT_TRACK": "1", "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"})
    return env


def _run(command: list[str], env: dict[str, str]) -> None:
    print("+", shlex.join(command), flush=True)
    subprocess.run(command, env=env, check=True)


def _cli(prod: Path, *args: str) -> list[str]:
    return [str(BIN / "tpch-elt"), "--data-dir", str(prod), *args]


def _build_prod(prod: Path, scale_factor: str) -> None:
    """generate → load → build: prod from scratch, published (its manifest kept with it)."""
    if prod.exists():
        shutil.rmtree(prod)
    prod.mkdir(parents=True)
    for args in (("generate", "-s", scale_factor), ("load", "-s", scale_factor), ("build",)):
        _run(_cli(prod, *args), _env())


def pack(prod: Path, state: Path) -> None:
    if state.exists():
        shutil.rmtree(state)
    state.mkdir(parents=True)
    with tarfile.open(state / STATE_FILE, "w") as tar:
        for name in KEPT:
            tar.add(prod / name, arcname=name)
    (state / STATE_INFO).write_text(json.dumps({"created_at": datetime.now(UTC).isoformat()}) + "\n")
    print(f"prod's state in {state}: {STATE_FILE} ({(state / STATE_FILE).stat().st_size:,} bytes)")


def unpack(state: Path, prod: Path, now: datetime | None = None) -> str | None:
    """Unpack the state into `prod`; None, or why it is not usable."""
    archive, info = state / STATE_FILE, state / STATE_INFO
    if not archive.is_file() or not info.is_file():
        return f"no state in {state} (no build of main yet, or its artifact expired)"
    try:
        created = datetime.fromisoformat(json.loads(info.read_text())["created_at"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return f"{info} is unreadable ({exc})"
    age = (now or datetime.now(UTC)) - created
    if age > MAX_STATE_AGE:
        return f"the state in {state} is {age} old, past {MAX_STATE_AGE}: prod's sources would be stale"
    if prod.exists():
        shutil.rmtree(prod)
    prod.mkdir(parents=True)
    with tarfile.open(archive) as tar:
        tar.extractall(prod, filter="data")
    return None


def _publish_diff(data_dir: Path, name: str, out: Path) -> None:
    """Copy the environment's diff to `out` and append its Markdown to the job summary."""
    source = data_dir / "environments" / name
    out.mkdir(parents=True, exist_ok=True)
    for suffix in ("md", "json", "html"):
        shutil.copy2(source / f"diff-prod.{suffix}", out / f"diff-prod.{suffix}")
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a", encoding="utf-8") as handle:
            handle.write(f"## Environment `{name}` against prod\n\n")
            handle.write((out / "diff-prod.md").read_text(encoding="utf-8"))
    print(f"diff of {name} against prod: {out}/diff-prod.{{md,json,html}}")


def build_and_diff(prod: Path, name: str, out: Path) -> None:
    """The working tree's code as environment `name` of `prod`: built (audited), then diffed."""
    env = _env()
    _run(_cli(prod, "env", "create", name), env)
    _run(_cli(prod, "env", "build", name), env)  # exits 1 when an error-severity test fails
    _run(_cli(prod, "env", "diff", name), env)
    _publish_diff(prod, name, out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("mode", choices=["state", "pr", "promote"])
    parser.add_argument("--state", type=Path, required=True, help="directory of prod.tar + state.json")
    parser.add_argument(
        "--data-dir", type=Path, default=Path(os.environ.get("CI_DATA_DIR", REPO / "data/ci"))
    )
    parser.add_argument("--scale-factor", default="0.01")
    args = parser.parse_args(argv)
    data_dir, state = args.data_dir.resolve(), args.state.resolve()
    prod, out = data_dir / "prod", data_dir / "diff"
    try:
        if args.mode == "state":
            _build_prod(prod, args.scale_factor)
            pack(prod, state)
            return 0
        unusable = unpack(state, prod)
        if unusable:
            print(f"{unusable}: building prod from this code instead.", flush=True)
            _build_prod(prod, args.scale_factor)
            if args.mode == "promote":
                pack(prod, state)
            return 0
        name = "pr" if args.mode == "pr" else "main"
        build_and_diff(prod, name, out)
        if args.mode == "promote":
            _run(_cli(prod, "env", "promote", name), _env())
            # prod's warehouse never held what the swap named: its own build (a full refresh)
            _run(_cli(prod, "build"), _env())
            pack(prod, state)
    except subprocess.CalledProcessError as exc:
        print(f"CI environments: {shlex.join(exc.cmd)} exited {exc.returncode}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
