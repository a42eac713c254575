"""The one exception type the CLI turns into a one-line message."""


class PipelineError(Exception):
    """A failure a user can act on.

    The message names the file, table or column involved and what to do;
    the CLI prints it on one line and exits non-zero.
    """


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (its type when it has none), for one-line errors."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
