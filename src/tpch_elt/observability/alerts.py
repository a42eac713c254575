"""Alerts: one grouped message per observe run, to stdout and a Slack-compatible webhook.

An incident is something a person should look at: a failing or erroring
dbt test or model, a source freshness warning or error, an anomaly that
warns or fails. Incidents from every dbt invocation `observe` has not seen
yet are grouped into one message (an incident that repeats across those
runs is listed once, with how many runs it appeared in). An incident whose
key was alerted within the suppression interval is left out, so one
incident does not alert on every 4-hourly run; every decision (sent,
suppressed, failed delivery) is appended to `observability.alerts`.

The only network access is the POST to the configured webhook URL
(`{"text": message}`, as Slack's incoming webhooks and compatible
receivers accept). The message carries names from data (column and table
names come from files), so `&`, `<` and `>` are escaped in the payload and
no `<!channel>` or `<url|link>` in a name becomes Slack syntax.

The webhook URL is a secret (its path is the token, and it may hold a
`user:password@`): no error, log line or `observability.alerts` row shows
more of it than its scheme and host (`redact_url`).
"""

from __future__ import annotations

import http.client
import json
import os
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import duckdb

from tpch_elt.errors import PipelineError
from tpch_elt.observability.store import SCHEMA

WEBHOOK_ENV = "TPCH_ELT_SLACK_WEBHOOK_URL"
SUPPRESS_ENV = "TPCH_ELT_ALERT_SUPPRESS_HOURS"
DEFAULT_SUPPRESS_HOURS = 4.0
WEBHOOK_TIMEOUT_SECONDS = 10
MAX_LINES = 30


@dataclass(frozen=True)
class AlertSettings:
    webhook_url: str | None = None
    suppress_hours: float = DEFAULT_SUPPRESS_HOURS

    def __post_init__(self) -> None:
        if self.webhook_url:
            problem = webhook_url_problem(self.webhook_url)
            if problem:
                raise PipelineError(
                    f"alert webhook URL {redact_url(self.webhook_url)} (the rest not shown: it holds the "
                    f"token) {problem}: set {WEBHOOK_ENV} or --webhook-url to e.g. "
                    "https://hooks.slack.com/services/…"
                )
        if not self.suppress_hours >= 0:
            raise PipelineError(
                f"alert suppression interval {self.suppress_hours} is negative: "
                f"set {SUPPRESS_ENV} to hours >= 0"
            )

    @classmethod
    def from_env(cls, webhook_url: str | None = None, suppress_hours: float | None = None) -> AlertSettings:
        """Explicit values win; otherwise the environment; otherwise the defaults."""
        url = webhook_url if webhook_url is not None else os.environ.get(WEBHOOK_ENV) or None
        if suppress_hours is None:
            text = os.environ.get(SUPPRESS_ENV, "").strip()
            try:
                suppress_hours = float(text) if text else DEFAULT_SUPPRESS_HOURS
            except ValueError:
                raise PipelineError(
                    f"{SUPPRESS_ENV}={text!r} is not a number: set it to hours, e.g. 4"
                ) from None
        return cls(url, suppress_hours)


_HOST = re.compile(r"[A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\]")


def redact_url(url: str) -> str:
    """What of a webhook URL may be shown: `scheme://host/…`, never userinfo, port, path or query."""
    try:
        parsed = urllib.parse.urlsplit(url.strip())
        host = parsed.hostname or ""
    except ValueError:
        return "…"
    # Any other "scheme" may be a user name read as one (`user:password@host/…`).
    scheme = parsed.scheme.lower() if parsed.scheme.lower() in ("http", "https") else ""
    host = f"[{host}]" if ":" in host else host
    host = host if _HOST.fullmatch(host) else ""
    if scheme:
        return f"{scheme}://{host}/…" if host else f"{scheme}://…"
    return f"…{host}/…" if host else "…"


def webhook_url_problem(url: str) -> str | None:
    """Why `url` cannot be POSTed to, in words that quote none of it; None when it can."""
    if any(ch.isspace() or not ch.isprintable() for ch in url):
        return "holds whitespace or a control character"
    try:
        parsed = urllib.parse.urlsplit(url)
        host, _port = parsed.hostname, parsed.port
    except ValueError:
        return "is not a valid URL (bad host or port)"
    if parsed.scheme.lower() not in ("http", "https"):
        return "is not an http(s) URL"
    if not host:
        return "has no host"
    if "@" in parsed.netloc:
        return "holds a user:password@ part, which the webhook client does not send"
    return None


def _scrub(text: str, url: str) -> str:
    """`text` without any secret-bearing piece of `url` (for error reasons from the network stack)."""
    try:
        parsed = urllib.parse.urlsplit(url)
        parts = [url, parsed.netloc, parsed.path, parsed.query, parsed.fragment]
        parts += [parsed.username or "", parsed.password or ""]
    except ValueError:
        parts = [url]
    parts += [segment for segment in re.split(r"[/?&=#@:]", url) if len(segment) >= 6]
    for part in sorted(filter(None, parts), key=len, reverse=True):
        text = text.replace(part, "…")
    return text


def slack_escape(text: str) -> str:
    """Text for a Slack message: `&`, `<`, `>` as entities, so nothing in it is Slack control syntax."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def webhook_payload(text: str) -> bytes:
    """The JSON body the webhook receives: `{"text": …}` with Slack's control characters escaped."""
    return json.dumps({"text": slack_escape(text)}).encode("utf-8")


@dataclass(frozen=True)
class Incident:
    key: str  # stable across runs: what suppression matches on
    kind: str  # test | model | freshness | anomaly
    severity: str  # fail | warn
    invocation_id: str
    summary: str
    runs: int = 1


@dataclass(frozen=True)
class AlertOutcome:
    message: str | None  # None: nothing to say (no incidents, or all suppressed)
    sent: list[Incident]
    suppressed: list[Incident]
    delivered: bool | None  # None: no webhook configured
    error: str | None = None


def group(incidents: Sequence[Incident]) -> list[Incident]:
    """One incident per key (the latest), counting the runs it appeared in."""
    by_key: dict[str, Incident] = {}
    counts: dict[str, int] = {}
    for incident in incidents:
        by_key[incident.key] = incident
        counts[incident.key] = counts.get(incident.key, 0) + 1
    ordered = sorted(by_key.values(), key=lambda i: (i.severity != "fail", i.kind, i.key))
    return [Incident(i.key, i.kind, i.severity, i.invocation_id, i.summary, counts[i.key]) for i in ordered]


def recently_alerted(con: duckdb.DuckDBPyConnection, since: datetime) -> set[str]:
    rows = con.execute(
        f"select distinct incident_key from {SCHEMA}.alerts where status = 'sent' and sent_at >= ?",
        [since],
    ).fetchall()
    return {row[0] for row in rows}


def compose(incidents: Sequence[Incident], suppressed: int, headline: str, suppress_hours: float) -> str:
    fails = sum(i.severity == "fail" for i in incidents)
    warns = len(incidents) - fails
    counts = ", ".join(
        part for part in (f"{fails} failing" if fails else "", f"{warns} warning" if warns else "") if part
    )
    lines = [f"{headline}: {len(incidents)} incident(s) ({counts})"]
    for incident in incidents[:MAX_LINES]:
        repeat = f" [in {incident.runs} runs]" if incident.runs > 1 else ""
        lines.append(f"• {incident.severity.upper()} {incident.kind}: {incident.summary}{repeat}")
    if len(incidents) > MAX_LINES:
        lines.append(f"• … and {len(incidents) - MAX_LINES} more (see the observability report)")
    if suppressed:
        lines.append(f"({suppressed} more already alerted within the last {suppress_hours:g} h: suppressed)")
    return "\n".join(lines)


def post_webhook(url: str, text: str) -> None:
    """POST {"text": text} as JSON; raises PipelineError on any delivery failure.

    The error names the webhook by `redact_url` only: the URL's path is its token.
    """
    host = redact_url(url)
    problem = webhook_url_problem(url)
    if problem:
        raise PipelineError(f"webhook {host} {problem}")
    try:
        request = urllib.request.Request(
            url,
            data=webhook_payload(text),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT_SECONDS) as response:
            if response.status >= 300:
                raise PipelineError(f"webhook {host} answered HTTP {response.status}")
    except urllib.error.HTTPError as exc:
        raise PipelineError(f"webhook {host} answered HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = _scrub(str(getattr(exc, "reason", exc)), url)
        raise PipelineError(f"webhook {host} unreachable ({reason})") from None
    except (ValueError, http.client.HTTPException) as exc:
        # e.g. http.client.InvalidURL, whose message quotes the URL's path or userinfo
        raise PipelineError(f"webhook {host} could not be posted to ({type(exc).__name__})") from None


def deliver(
    message: str | None,
    settings: AlertSettings,
    out: Callable[[str], None],
    post: Callable[[str, str], None],
) -> tuple[bool | None, str | None]:
    """Print `message` and POST it to the webhook, if any: (delivered, error); (None, None) with no webhook."""
    if message is None:
        return None, None
    out(message)
    if not settings.webhook_url:
        return None, None
    try:
        post(settings.webhook_url, message)
    except PipelineError as exc:
        return False, str(exc)
    return True, None


def notify(
    con: duckdb.DuckDBPyConnection,
    incidents: Sequence[Incident],
    settings: AlertSettings,
    *,
    headline: str,
    now: datetime,
    out: Callable[[str], None] = print,
    post: Callable[[str, str], None] = post_webhook,
) -> AlertOutcome:
    """Send one grouped message for the incidents not alerted recently; log every decision."""
    grouped = group(incidents)
    recent = recently_alerted(con, now - timedelta(hours=settings.suppress_hours))
    fresh = [i for i in grouped if i.key not in recent]
    quiet = [i for i in grouped if i.key in recent]
    message = compose(fresh, len(quiet), headline, settings.suppress_hours) if fresh else None
    delivered, error = deliver(message, settings, out, post)
    channels = "stdout+webhook" if settings.webhook_url else "stdout"
    status = "sent" if delivered is not False else "failed"
    rows = [
        (now, i.key, i.invocation_id, i.kind, i.severity, i.summary, status, channels, error) for i in fresh
    ] + [
        (now, i.key, i.invocation_id, i.kind, i.severity, i.summary, "suppressed", None, None) for i in quiet
    ]
    if rows:
        con.executemany(f"insert into {SCHEMA}.alerts values (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    return AlertOutcome(message, fresh, quiet, delivered, error)
