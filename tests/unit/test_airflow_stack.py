"""airflow/stack.py's settings, without starting anything: the environment every
native process gets, and the local login it writes."""

from __future__ import annotations

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
