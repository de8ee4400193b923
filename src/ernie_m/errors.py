"""The one exception type the CLI turns into a one-line message and a non-zero exit."""


class ErnieMError(Exception):
    """A user-facing error: bad input, bad config, missing file. The message names the file (and line)."""
