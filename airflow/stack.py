"""Airflow for the pipelines' DAGs (airflow/pipelines.yml): prepare it, and run it on this machine.

    python airflow/stack.py start [--port 8080] [--scale-factor 1]   # `make airflow`
    python airflow/stack.py stop                                      # `make airflow-stop`
    python airflow/stack.py status
    python airflow/stack.py prepare [--scale-factor SF] [--login USER:PASSWORD]
    python airflow/stack.py manifest
    python airflow/stack.py batch-landed [--url URL] [--login USER:PASSWORD] [--batch N]
    eval "$(python airflow/stack.py env)"   # then `airflow ...` talks to the native instance

`prepare` is what any Airflow needs before it runs the DAG, and it is the
same for the native instance (`start` calls it) and the containers (their
init service runs it): migrate the metadata database, create the one-slot
pool `duckdb_warehouse`, produce the dbt manifest the DAG renders from
(`dbt parse`, only when the dbt project changed), optionally set a local
login, and on the `prod` target generate, load and build a warehouse with
held-back arrival batches when there is none, so the first DAG run has a
batch to ingest. Every step is idempotent.

`batch-landed` tells Airflow that an arrival batch landed: an event on the
asset `tpch_elt_batch_landed` (REST API v2, `POST /api/v2/assets/events`),
which starts a run of every pipeline that lists the asset (`dbt_pipeline`)
without waiting for its schedule. Whatever lands batches runs it (or makes
the same two API calls).

`start` runs the four Airflow 3 components (api-server, scheduler,
dag-processor, triggerer) as background processes with AIRFLOW_HOME in
`.airflow/`, a SQLite metadata database there (or `--db-url`), the
LocalExecutor, and the UI on 127.0.0.1 only. Standard library only, plus
the project's own package: it runs in the project's virtualenv.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
# The DAG's names come from the package; `make airflow-stop` runs this file
# with the system Python, which imports them from the repository's src/.
if importlib.util.find_spec("tpch_elt") is None:
    sys.path.insert(0, str(REPO / "src"))
from tpch_elt.orchestration import BATCH_LANDED_ASSET, DAG_ID, WAREHOUSE_POOL  # noqa: E402
from tpch_elt.orchestration.manifest import manifest_is_stale, manifest_location  # noqa: E402
from tpch_elt.settings import PROJECT_DIR_VAR, Settings  # noqa: E402
from tpch_elt.transform.dbt import common_dbt_args  # noqa: E402

AIRFLOW_DIR = REPO / "airflow"
DAGS_DIR = AIRFLOW_DIR / "dags"
# The one DAG file: a DAG per pipeline of airflow/pipelines.yml.
DAG_FILE_NAME = "pipelines.py"
SHARED_ENV_FILE = AIRFLOW_DIR / "airflow.env"
DEFAULT_MANIFEST = AIRFLOW_DIR / "dbt_target" / "manifest.json"
DEFAULT_HOME = REPO / ".airflow"
POOL_DESCRIPTION = "DuckDB allows one writing process: tasks that open the dev warehouse take turns"
COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")


class StackError(Exception):
    """A one-line, actionable reason the stack cannot do what was asked."""


def read_env_file(path: Path = SHARED_ENV_FILE) -> dict[str, str]:
    """KEY=VALUE lines, as docker compose's `env_file` reads them."""
    values: dict[str, str] = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise StackError(f"{path}:{number}: expected KEY=VALUE, got {line!r}")
        values[key.strip()] = value.strip()
    return values


def tool(name: str, env: Mapping[str, str] | None = None) -> str:
    """An executable of this virtualenv (or, in the Airflow image, on PATH)."""
    beside = Path(sys.executable).parent / name
    if beside.is_file():
        return str(beside)
    found = shutil.which(name, path=(env or os.environ).get("PATH"))
    if found is None:
        raise StackError(f"`{name}` is not installed: run `pip install -e '.[airflow]'` (or `make install`)")
    return found


def run(args: list[str], env: Mapping[str, str], what: str, *, quiet: bool = False) -> str:
    """Run one command to completion; a failure names the command and its last output."""
    proc = subprocess.run(
        args, env=dict(env), cwd=REPO, capture_output=quiet, text=True, timeout=3600, check=False
    )
    if proc.returncode != 0:
        tail = "\n".join(((proc.stdout or "") + (proc.stderr or "")).strip().splitlines()[-15:])
        raise StackError(
            f"{what} failed (exit {proc.returncode}): {' '.join(args)}" + (f"\n{tail}" if tail else "")
        )
    return proc.stdout or ""


# --- environment ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Native:
    """Where the native instance lives and listens."""

    home: Path = DEFAULT_HOME
    port: int = 8080
    db_url: str | None = None
    data_dir: Path | None = None

    @property
    def run_dir(self) -> Path:
        return self.home / "run"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def native_env(native: Native, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of every native component: shared settings + this machine's paths."""
    env = dict(os.environ if base is None else base)
    env.update(read_env_file())
    home = native.home.resolve()
    data_dir = native.data_dir or Path(env.get("TPCH_ELT_DATA_DIR") or REPO / "data")
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_DIR),
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": native.db_url or f"sqlite:///{home / 'airflow.db'}",
            # Local use only: the UI and APIs listen on the loopback interface.
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(native.port),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{native.url}/execution/",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "airflow:admin",
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
            # Cosmos' partial-parse cache, per instance: two instances never share one.
            "AIRFLOW__COSMOS__CACHE_DIR": str(home / "cosmos"),
            "TPCH_ELT_DATA_DIR": str(Path(data_dir).resolve()),
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        }
    )
    return env


# --- prepare -------------------------------------------------------------------------------


def project_dir(env: Mapping[str, str]) -> Path:
    return Path(env.get(PROJECT_DIR_VAR) or REPO / "dbt_project").resolve()


def ensure_manifest(env: Mapping[str, str]) -> Path:
    """`dbt parse` into the manifest's directory when the dbt project changed since."""
    manifest = manifest_location(DEFAULT_MANIFEST, env)
    project = project_dir(env)
    if not manifest_is_stale(manifest, project):
        print(f"dbt manifest up to date: {manifest}")
        return manifest
    manifest.parent.mkdir(parents=True, exist_ok=True)
    scratch = manifest.parent / f".parse-{os.getpid()}"
    # The CLI's dbt arguments, with a scratch data dir: dbt's target and log directories.
    settings = Settings.from_env(data_dir=scratch, project_dir=project, environ=env)
    try:
        run(
            [tool("dbt", env), "parse", "--quiet", *common_dbt_args(settings)],
            {**env, "DO_NOT_TRACK": "1", "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"},
            "dbt parse",
            quiet=True,
        )
        # Readers (the DAG processor) see the old manifest or the new one, never half.
        os.replace(settings.dbt_target_dir / "manifest.json", manifest)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print(f"dbt manifest written: {manifest}")
    return manifest


def password_file(env: Mapping[str, str]) -> Path:
    configured = env.get("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE")
    if configured:
        return Path(configured)
    home = Path(env.get("AIRFLOW_HOME") or Path.home() / "airflow")
    return home / "simple_auth_manager_passwords.json.generated"


def set_login(env: Mapping[str, str], login: str) -> None:
    """Give a SimpleAuthManager user a known password (local use only)."""
    user, sep, password = login.partition(":")
    if not sep or not user or not password:
        # never echo it: the value is a password, or holds one
        raise StackError("--login must be USER:PASSWORD (a user, a colon, a non-empty password)")
    users = [
        entry.split(":")[0] for entry in env.get("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS", "").split(",")
    ]
    if user not in users:
        raise StackError(
            f"user {user!r} is not in AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS "
            f"({env.get('AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS', 'unset')}): add it as {user}:admin"
        )
    path = password_file(env)
    passwords = json.loads(path.read_text() or "{}") if path.is_file() else {}
    if passwords.get(user) != password:
        passwords[user] = password
        path.parent.mkdir(parents=True, exist_ok=True)
        write_private(path, json.dumps(passwords) + "\n")


def write_private(path: Path, text: str) -> None:
    """Replace `path` with `text`, readable by its owner only from the first byte.

    The file is created with mode 600 (never written world-readable, then
    chmod-ed), synced, and renamed over the old one, whatever mode that had.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)  # left by a killed process with this pid
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def ensure_warehouse(env: Mapping[str, str], scale_factor: str, batches: int) -> None:
    """On the prod target: generate, load and build once, holding back batches to ingest."""
    target = env.get("TPCH_ELT_TARGET") or "prod"
    if target != "prod":
        print(f"target {target}: the warehouse is not managed here")
        return
    if not env.get("TPCH_ELT_DATA_DIR"):
        raise StackError(
            "TPCH_ELT_DATA_DIR is not set: point it at the directory for landing files and the warehouse"
        )
    from tpch_elt.settings import Settings
    from tpch_elt.warehouse.connection import connect, table_exists

    settings = Settings(
        data_dir=Path(env["TPCH_ELT_DATA_DIR"]),
        warehouse=Path(env["TPCH_ELT_WAREHOUSE"]) if env.get("TPCH_ELT_WAREHOUSE") else None,
    )
    if settings.warehouse_path.is_file():
        with connect(settings.warehouse_path, read_only=True) as con:
            if table_exists(con, "raw", "orders"):
                print(f"warehouse ready: {settings.warehouse_path}")
                return
    cli = tool("tpch-elt", env)
    run(
        [cli, "generate", "-s", scale_factor, "--initial-fraction", "0.9", "--batches", str(batches)],
        env,
        "tpch-elt generate",
    )
    run([cli, "load", "-s", scale_factor], env, "tpch-elt load")
    run([cli, "build"], env, "tpch-elt build")


def prepare(
    env: Mapping[str, str], *, scale_factor: str = "1", batches: int = 10, login: str | None = None
) -> None:
    """Everything Airflow needs before its first run of the DAG (idempotent)."""
    airflow = tool("airflow", env)
    run([airflow, "db", "migrate"], env, "airflow db migrate", quiet=True)
    print("metadata database migrated")
    run(
        [airflow, "pools", "set", WAREHOUSE_POOL, "1", POOL_DESCRIPTION], env, "airflow pools set", quiet=True
    )
    print(f"pool {WAREHOUSE_POOL}: 1 slot")
    if login:
        set_login(env, login)
        print(f"login {login.partition(':')[0]} set (local use only)")
    ensure_manifest(env)
    ensure_warehouse(env, scale_factor, batches)


# --- native processes ----------------------------------------------------------------------


def _pid_file(native: Native, component: str) -> Path:
    return native.run_dir / f"{component}.pid"


def _log_file(native: Native, component: str) -> Path:
    return native.run_dir / f"{component}.log"


def _alive(pid: int) -> bool:
    """Running (not a zombie), and an Airflow process: a recycled pid is not ours."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, IndexError):
        return False
    # The command line reads empty while a process execs: not a reason to disown it.
    return state != "Z" and (not cmdline or b"airflow" in cmdline)


def running(native: Native) -> dict[str, int]:
    found = {}
    for component in COMPONENTS:
        path = _pid_file(native, component)
        if path.is_file():
            pid = int(path.read_text().strip() or 0)
            if pid and _alive(pid):
                found[component] = pid
    return found


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _ui(native: Native) -> str:
    """The UI's address: as started (the port may differ from this command's)."""
    saved = native.run_dir / "url"
    return saved.read_text().strip() if saved.is_file() else f"http://localhost:{native.port}"


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _get_json(url: str, token: str | None = None, timeout: float = 5) -> dict[str, Any]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        answer: dict[str, Any] = json.loads(response.read())
        return answer


def token(base_url: str, username: str, password: str) -> str:
    """A JWT for the REST API (API v2) from the SimpleAuthManager's /auth/token."""
    request = urllib.request.Request(
        f"{base_url}/auth/token",
        data=json.dumps({"username": username, "password": password}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return str(json.loads(response.read())["access_token"])


def batch_landed(
    base_url: str, login: str, *, asset: str = BATCH_LANDED_ASSET, batch: int | None = None
) -> int:
    """Record an event on the asset `asset` through the REST API; returns the event's id."""
    user, sep, password = login.partition(":")
    if not sep or not user or not password:
        raise StackError("--login must be USER:PASSWORD (a user, a colon, a non-empty password)")
    try:
        jwt = token(base_url, user, password)
        query = urllib.parse.urlencode({"name_pattern": asset, "limit": 100})
        found = [
            a for a in _get_json(f"{base_url}/api/v2/assets?{query}", jwt)["assets"] if a["name"] == asset
        ]
        if not found:
            raise StackError(
                f"Airflow at {base_url} knows no asset {asset!r}: no parsed pipeline lists it under "
                "`assets:` in airflow/pipelines.yml (is the DAG file parsed without import errors?)"
            )
        body = {"asset_id": found[0]["id"], "extra": {} if batch is None else {"batch_id": batch}}
        request = urllib.request.Request(
            f"{base_url}/api/v2/assets/events",
            data=json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {jwt}", "Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return int(json.loads(response.read())["id"])
    except urllib.error.HTTPError as exc:
        raise StackError(
            f"Airflow at {base_url} refused the asset event: HTTP {exc.code} {exc.reason}"
        ) from None
    except (urllib.error.URLError, OSError) as exc:
        raise StackError(
            f"Airflow is not reachable at {base_url} ({exc}): start it (`make airflow`)"
        ) from None


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _raise_import_errors(native: Native, jwt: str) -> None:
    """A DAG file that does not import never registers: say why instead of waiting."""
    errors = _get_json(f"{native.url}/api/v2/importErrors", jwt).get("import_errors", [])
    for error in errors:
        if error.get("filename", "").endswith(DAG_FILE_NAME):
            reason = (error.get("stack_trace") or "").strip().splitlines()[-1:] or ["unknown"]
            raise StackError(f"the DAG file {error['filename']} does not import: {reason[0]}")


def wait_until_ready(
    native: Native, login: str | None, timeout: float, procs: Mapping[str, subprocess.Popen[bytes]]
) -> None:
    """Bounded wait: API healthy, every component heartbeating, the DAG registered."""
    deadline = time.monotonic() + timeout
    waiting_for = "the API server"
    while time.monotonic() < deadline:
        for component, proc in procs.items():
            if proc.poll() is not None:
                raise StackError(
                    f"airflow {component} exited during start-up; its log {_log_file(native, component)} ends:\n"
                    + _tail(_log_file(native, component))
                )
        try:
            health = _get_json(f"{native.url}/api/v2/monitor/health")
            unhealthy = [
                name
                for name in ("metadatabase", "scheduler", "dag_processor", "triggerer")
                if (health.get(name) or {}).get("status") != "healthy"
            ]
            if unhealthy:
                waiting_for = ", ".join(unhealthy)
            elif login is None:
                return
            else:
                waiting_for = f"the DAG {DAG_ID}"
                user, _, password = login.partition(":")
                jwt = token(native.url, user, password)
                _raise_import_errors(native, jwt)
                dag = _get_json(f"{native.url}/api/v2/dags/{DAG_ID}", jwt)
                if dag.get("is_paused") is False:
                    return
        except (urllib.error.URLError, OSError, ValueError):
            pass
        time.sleep(1)
    raise StackError(
        f"Airflow was not ready after {timeout:.0f} s (still waiting for {waiting_for}); "
        f"logs in {native.run_dir}"
    )


def pipeline_names(env: Mapping[str, str]) -> list[str]:
    """The DAG ids of the pipelines the DAG file reads (airflow/pipelines.yml or TPCH_ELT_PIPELINES)."""
    from tpch_elt.orchestration.pipelines import load_pipelines, pipelines_path

    return [p.name for p in load_pipelines(pipelines_path(AIRFLOW_DIR / "pipelines.yml", env))]


def start(native: Native, *, scale_factor: str, batches: int, login: str, timeout: float) -> None:
    already = running(native)
    if already:
        print(
            f"Airflow is already running from {native.home} (pids {sorted(already.values())}): {_ui(native)}"
        )
        return
    if not _port_free(native.port):
        raise StackError(
            f"port {native.port} on 127.0.0.1 is in use: stop what listens there, "
            f"or pick another port (`make airflow AIRFLOW_PORT=8081`)"
        )
    env = native_env(native)
    # The scheduler's and triggerer's log servers (Airflow binds them on every
    # interface; they answer only requests signed with this instance's secret):
    # free ports, so that two instances never collide on 8793/8794.
    for key in ("AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT", "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT"):
        env.setdefault(key, str(_free_port()))
    native.run_dir.mkdir(parents=True, exist_ok=True)
    prepare(env, scale_factor=scale_factor, batches=batches, login=login)
    airflow = tool("airflow", env)
    procs: dict[str, subprocess.Popen[bytes]] = {}
    for component in COMPONENTS:
        with _log_file(native, component).open("ab") as log:
            procs[component] = proc = subprocess.Popen(
                [airflow, component],
                env=env,
                cwd=REPO,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: `stop` ends it and its children
            )
        _pid_file(native, component).write_text(f"{proc.pid}\n")
    (native.run_dir / "url").write_text(f"http://localhost:{native.port}\n")
    try:
        wait_until_ready(native, login, timeout, procs)
    except StackError:
        stop(native)
        raise
    user, _, password = login.partition(":")
    print(
        f"Airflow is up: http://localhost:{native.port} (login {user} / {password}, local use only)\n"
        f"  DAG {DAG_ID} is unpaused: it runs every 4 hours and when a batch lands "
        f"(`python airflow/stack.py batch-landed`); trigger it now with the ▶ button\n"
        f"  the pipelines (their DAGs): {', '.join(pipeline_names(env))}\n"
        f"  logs: {native.run_dir}/*.log, task logs: {native.home / 'logs'}\n"
        f"  stop: make airflow-stop"
    )


def stop(native: Native, timeout: float = 30) -> None:
    """SIGTERM each component's process group, SIGKILL what is left after `timeout`."""
    pids = running(native)
    for pid in pids.values():
        try:
            os.killpg(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(_alive(pid) for pid in pids.values()):
        time.sleep(0.5)
    for pid in pids.values():
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    for component in COMPONENTS:
        _pid_file(native, component).unlink(missing_ok=True)
    (native.run_dir / "url").unlink(missing_ok=True)
    print("Airflow stopped" if pids else "Airflow was not running")


def status(native: Native) -> int:
    alive = running(native)
    for component in COMPONENTS:
        state = f"running (pid {alive[component]})" if component in alive else "stopped"
        print(f"{component:14} {state}")
    if alive:
        print(f"UI: {_ui(native)}")
    return 0 if len(alive) == len(COMPONENTS) else 1


# --- command line --------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="airflow/stack.py", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)

    def native_options(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--home", type=Path, default=DEFAULT_HOME, help="AIRFLOW_HOME (default: .airflow/)")
        sub.add_argument("--port", type=int, default=8080, help="UI and API port on 127.0.0.1")
        sub.add_argument("--db-url", help="metadata database URL (default: SQLite in --home)")
        sub.add_argument(
            "--data-dir", type=Path, help="TPCH_ELT_DATA_DIR (default: $TPCH_ELT_DATA_DIR or data/)"
        )

    def warehouse_options(sub: argparse.ArgumentParser) -> None:
        sub.add_argument(
            "--scale-factor", "-s", default="1", help="TPC-H scale factor when a warehouse is created"
        )
        sub.add_argument(
            "--batches", type=int, default=10, help="arrival batches held back for the DAG to ingest"
        )

    sub = commands.add_parser("start", help="prepare, then run Airflow in the background")
    native_options(sub)
    warehouse_options(sub)
    sub.add_argument("--login", default="airflow:airflow", help="local UI login USER:PASSWORD")
    sub.add_argument("--timeout", type=float, default=300, help="seconds to wait for Airflow to be ready")
    for name, text in (
        ("stop", "stop the background Airflow"),
        ("status", "which components run"),
        ("env", "print `export` lines for the airflow CLI"),
    ):
        native_options(commands.add_parser(name, help=text))
    sub = commands.add_parser(
        "prepare", help="migrate, pool, manifest, warehouse (uses the environment as is)"
    )
    warehouse_options(sub)
    sub.add_argument("--login", help="set a SimpleAuthManager USER:PASSWORD (local use only)")
    commands.add_parser("manifest", help="dbt parse into airflow/dbt_target when the project changed")
    sub = commands.add_parser(
        "batch-landed", help=f"an event on the asset {BATCH_LANDED_ASSET}: dbt_pipeline runs now"
    )
    sub.add_argument("--url", default="http://localhost:8080", help="the Airflow API server")
    sub.add_argument("--login", default="airflow:airflow", help="USER:PASSWORD for its REST API")
    sub.add_argument("--batch", type=int, help="the batch's id, kept in the event's extra")
    return parser


def announce_batch(args: argparse.Namespace) -> None:
    event = batch_landed(args.url.rstrip("/"), args.login, batch=args.batch)
    print(f"asset event {event} on {BATCH_LANDED_ASSET}: the pipelines listing it run now")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    # The commands that need no native instance.
    without_native: dict[str, Callable[[], object]] = {
        "prepare": lambda: prepare(
            os.environ, scale_factor=args.scale_factor, batches=args.batches, login=args.login
        ),
        "manifest": lambda: ensure_manifest(os.environ),
        "batch-landed": lambda: announce_batch(args),
    }
    try:
        if args.command in without_native:
            without_native[args.command]()
        else:
            native = Native(
                home=args.home.resolve(), port=args.port, db_url=args.db_url, data_dir=args.data_dir
            )
            if args.command == "start":
                start(
                    native,
                    scale_factor=args.scale_factor,
                    batches=args.batches,
                    login=args.login,
                    timeout=args.timeout,
                )
            elif args.command == "stop":
                stop(native)
            elif args.command == "status":
                return status(native)
            elif args.command == "env":
                for key, value in sorted(native_env(native).items()):
                    if os.environ.get(key) != value:
                        print(f"export {key}={shlex.quote(value)}")
    except StackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
