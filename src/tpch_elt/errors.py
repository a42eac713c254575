"""The one exception type the CLI turns into a one-line message, and text from data made printable."""

import re

# What a terminal would act on instead of show: C0/C1 controls (ESC starts
# escape sequences), DEL, line separators, bidi overrides and marks.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]")


class PipelineError(Exception):
    """A failure a user can act on.

    The message names the file, table or column involved and what to do;
    the CLI prints it on one line and exits non-zero.
    """


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (its type when it has none), for one-line errors."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group(0))
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(value: object, *, lines: bool = False) -> str:
    """`value` as text a terminal shows as is: every control character written as \\xNN
    (newlines too, so an error stays one line, unless `lines`)."""
    if lines:
        return "\n".join(printable(line) for line in str(value).split("\n"))
    return _CONTROL.sub(_visible, str(value))
