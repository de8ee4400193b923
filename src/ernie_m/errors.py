"""The one exception type the CLI turns into a one-line message and a non-zero exit."""


class ErnieMError(Exception):
    """A user-facing error: bad input, bad config, missing file. The message names the file (and line)."""


def first_line(error: Exception) -> str:
    """The first non-empty line of an exception's message (library errors run over several lines)."""
    return next((line.strip() for line in str(error).splitlines() if line.strip()), type(error).__name__)
