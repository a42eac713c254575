"""What counts as a credential in a tracked file (tests/integration/test_secrets.py
scans the repository with it; tests/unit/test_secret_scan.py proves it live)."""

from __future__ import annotations

import re

# Values that are not credentials: empty, elided, templated, the local-only
# defaults (`airflow`), and the obviously fake ones the emulator tests log in with.
PLACEHOLDER = re.compile(
    r"^(|…|\.\.\.|<[^>]*>|\*+|x+|changeme|example|airflow|emulated|pw|s3cret|(fake|dummy|test)[-_].*)$",
    re.IGNORECASE,
)
CREDENTIAL_PATTERNS = {
    "private key": re.compile(r"-----BEGIN (?:RSA |EC |DSA |OPENSSH |ENCRYPTED )?PRIVATE KEY-----"),
    "AWS access key id": re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    "AWS secret access key": re.compile(
        r"aws_secret_access_key\s*[=:]\s*[\"']?[A-Za-z0-9/+]{40}", re.IGNORECASE
    ),
    "Slack webhook": re.compile(r"https://hooks\.slack\.com/services/T[A-Z0-9]+/B[A-Z0-9]+/[A-Za-z0-9]+"),
    "Slack token": re.compile(r"\bxox[abposr]-[0-9A-Za-z-]{10,}"),
    "GitHub token": re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36}\b"),
}
# `password = "literal"` / `PASSWORD: literal` / `"password": "literal"`, not from
# the environment, a template or a variable
PASSWORD_LITERAL = re.compile(
    r"""(?ix) \b[a-z_]*(?:password|passwd|passphrase)["']? \s* (?:=|:) \s* (?P<q>["']) (?P<value>[^"'\s]*) (?P=q)"""
)


def credential_findings(text: str) -> list[str]:
    found = [label for label, pattern in CREDENTIAL_PATTERNS.items() if pattern.search(text)]
    for match in PASSWORD_LITERAL.finditer(text):
        if not PLACEHOLDER.match(match.group("value")):
            found.append(f"password literal {match.group(0)!r}")
    return found
