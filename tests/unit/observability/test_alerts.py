"""Alerts (observability.alerts) to a local webhook: one grouped message, suppression, re-alert, failed delivery."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from testkit.observability import T0, Warehouse

from tpch_elt.errors import PipelineError
from tpch_elt.observability.alerts import AlertSettings, Incident, notify
from tpch_elt.observability.store import SCHEMA

# -- alerts ------------------------------------------------------------------------------------


class Webhook:
    """A Slack-like receiver on 127.0.0.1 that records what it is sent."""

    def __init__(self, status: int = 200) -> None:
        self.messages: list[dict] = []
        self.status = status
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                hook.messages.append(json.loads(self.rfile.read(length)))
                self.send_response(hook.status)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/T000/B000"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    hook = Webhook()
    yield hook
    hook.close()


INCIDENTS = [
    Incident("anomaly:raw.orders rows_added", "anomaly", "fail", "inv-1", "raw.orders rows_added = 40"),
    Incident("test:test.p.t", "test", "fail", "inv-1", "t on stg_orders: 3 failing row(s)"),
    Incident("test:test.p.t", "test", "fail", "inv-2", "t on stg_orders: 5 failing row(s)"),
    Incident("freshness:source.p.tpch.orders", "freshness", "warn", "inv-2", "tpch.orders: 13 h"),
]


def test_one_grouped_message_then_suppression_then_realert(warehouse: Warehouse, webhook: Webhook) -> None:
    con = warehouse.con
    from tpch_elt.observability.store import ensure_schema

    ensure_schema(con)
    printed: list[str] = []
    settings = AlertSettings(webhook.url, suppress_hours=4)
    first = notify(con, INCIDENTS, settings, headline="tpch-elt", now=T0, out=printed.append)
    assert len(webhook.messages) == 1 and printed == [webhook.messages[0]["text"]]
    text = webhook.messages[0]["text"]
    assert text.splitlines()[0] == "tpch-elt: 3 incident(s) (2 failing, 1 warning)"
    assert "5 failing row(s) [in 2 runs]" in text and "raw.orders rows_added = 40" in text
    assert first.delivered and len(first.sent) == 3

    again = notify(
        con, INCIDENTS[:2], settings, headline="tpch-elt", now=T0 + timedelta(hours=3), out=printed.append
    )
    assert len(webhook.messages) == 1 and again.message is None and len(again.suppressed) == 2

    new = Incident(
        "anomaly:raw.lineitem rows_added", "anomaly", "fail", "inv-3", "raw.lineitem rows_added = 9"
    )
    mixed = notify(
        con,
        [*INCIDENTS[:2], new],
        settings,
        headline="tpch-elt",
        now=T0 + timedelta(hours=3, minutes=30),
        out=printed.append,
    )
    assert len(webhook.messages) == 2
    assert "raw.lineitem" in mixed.message and "raw.orders" not in mixed.message
    assert "2 more already alerted within the last 4 h: suppressed" in mixed.message

    later = notify(
        con, INCIDENTS[:1], settings, headline="tpch-elt", now=T0 + timedelta(hours=5), out=printed.append
    )
    assert len(webhook.messages) == 3 and later.sent
    log = con.execute(f"select status, count(*) from {SCHEMA}.alerts group by 1 order by 1").fetchall()
    assert log == [("sent", 5), ("suppressed", 4)]


def test_a_failed_delivery_is_logged_and_retried_next_time(warehouse: Warehouse) -> None:
    con = warehouse.con
    from tpch_elt.observability.store import ensure_schema

    ensure_schema(con)
    hook = Webhook(status=500)
    try:
        settings = AlertSettings(hook.url)
        failed = notify(con, INCIDENTS[:1], settings, headline="h", now=T0, out=lambda _: None)
        assert failed.delivered is False and "HTTP 500" in failed.error
        hook.status = 200
        retried = notify(
            con, INCIDENTS[:1], settings, headline="h", now=T0 + timedelta(minutes=5), out=lambda _: None
        )
        assert retried.delivered is True and len(hook.messages) == 2
    finally:
        hook.close()


def test_alert_settings_validate_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TPCH_ELT_SLACK_WEBHOOK_URL", "http://127.0.0.1:9/x")
    monkeypatch.setenv("TPCH_ELT_ALERT_SUPPRESS_HOURS", "0.5")
    assert AlertSettings.from_env() == AlertSettings("http://127.0.0.1:9/x", 0.5)
    monkeypatch.setenv("TPCH_ELT_ALERT_SUPPRESS_HOURS", "soon")
    with pytest.raises(PipelineError, match="TPCH_ELT_ALERT_SUPPRESS_HOURS='soon' is not a number"):
        AlertSettings.from_env()
    with pytest.raises(PipelineError, match="not an http"):
        AlertSettings("file:///etc/passwd")
