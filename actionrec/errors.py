"""The one exception type the user sees.

Library code raises ``ActionrecError`` with a message that names the file or value and what was
expected; the CLI prints just that message and exits with status 2 (no traceback).
"""


class ActionrecError(Exception):
    """Bad input or environment, explained in one sentence for the user."""
