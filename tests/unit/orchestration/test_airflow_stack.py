"""airflow/stack.py's settings, without starting anything: the environment every
native process gets, and the local login it writes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from testkit.airflow import stack


def test_native_environment_keeps_telemetry_off_and_listens_on_loopback(tmp_path: Path) -> None:
    native = stack().Native(home=tmp_path / "home", port=18999, data_dir=tmp_path / "data")
    env = stack().native_env(native, base={"PATH": "/usr/bin"})
    assert env["AIRFLOW__COSMOS__ENABLE_TELEMETRY"] == "False"
    assert env["DO_NOT_TRACK"] == "1"
    assert env["SCARF_NO_ANALYTICS"] == "true"
    assert env["DBT_SEND_ANONYMOUS_USAGE_STATS"] == "false"
    assert env["AIRFLOW__API__HOST"] == "127.0.0.1"
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://127.0.0.1:18999/execution/"
    assert env["AIRFLOW__CORE__LOAD_EXAMPLES"] == "False"
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == f"sqlite:///{tmp_path / 'home' / 'airflow.db'}"


def test_a_login_is_set_only_for_a_user_airflow_knows(tmp_path: Path) -> None:
    env = {"AIRFLOW_HOME": str(tmp_path), "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "airflow:admin"}
    with pytest.raises(stack().StackError, match="AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"):
        stack().set_login(env, "bob:secret")
    stack().set_login(env, "airflow:airflow")
    written = (tmp_path / "simple_auth_manager_passwords.json.generated").read_text()
    assert written.strip() == '{"airflow": "airflow"}'


def test_the_password_file_is_created_private_never_chmod_after_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Mode 600 from the first byte: no window in which another user can read the password."""
    env = {"AIRFLOW_HOME": str(tmp_path), "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "airflow:admin"}
    path = tmp_path / "simple_auth_manager_passwords.json.generated"
    path.write_text('{"airflow": "generated-by-airflow"}\n')
    path.chmod(0o644)  # as Airflow may leave it

    def no_chmod(*args, **kwargs):
        raise AssertionError("the password file was chmod-ed after it was written")

    monkeypatch.setattr(Path, "chmod", no_chmod)
    monkeypatch.setattr(os, "chmod", no_chmod)
    old_umask = os.umask(0o022)
    try:
        stack().set_login(env, "airflow:s3cret")
    finally:
        os.umask(old_umask)
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.read_text().strip() == '{"airflow": "s3cret"}'
    assert [p.name for p in tmp_path.iterdir()] == [path.name], "no temp file left behind"


def test_a_malformed_login_is_refused_without_echoing_it(tmp_path: Path) -> None:
    env = {"AIRFLOW_HOME": str(tmp_path), "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "airflow:admin"}
    with pytest.raises(stack().StackError) as refused:
        stack().set_login(env, "hunter2-no-colon")
    assert "hunter2" not in str(refused.value)
