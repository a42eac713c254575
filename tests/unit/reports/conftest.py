"""The synthetic warehouse fixture the observability tests share (testkit.observability)."""

from testkit.observability import warehouse  # noqa: F401
