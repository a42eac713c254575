"""The one exception type the CLI turns into a one-line message."""


class PipelineError(Exception):
    """A failure a user can act on.

    The message names the file, table or column involved and what to do;
    the CLI prints it on one line and exits non-zero.
    """
