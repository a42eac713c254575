"""The repository's credential scan catches each kind of credential, and no placeholder."""

from __future__ import annotations

from testkit.credentials import credential_findings


def test_the_scan_finds_what_it_looks_for() -> None:
    """The patterns are live: each kind of credential is caught, placeholders are not."""
    key_header = "-----BEGIN " + "RSA PRIVATE KEY-----"
    assert credential_findings(key_header) == ["private key"]
    assert credential_findings("AKIA" + "IOSFODNN7EXAMPLE") == ["AWS access key id"]
    assert credential_findings("https://hooks.slack.com/services/" + "T0123ABCD/B0123ABCD/abcDEF123") == [
        "Slack webhook"
    ]
    assert credential_findings('password = "' + 'hunter2"')
    assert credential_findings('"SNOWFLAKE_PASSWORD": "' + 's3cr3t"')
    assert credential_findings("password: \"{{ env_var('SNOWFLAKE_PASSWORD') }}\"") == []
    assert credential_findings('password = os.environ["X"]') == []
    assert credential_findings('password = ""') == []
