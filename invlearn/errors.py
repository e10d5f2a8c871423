"""The one exception type the package raises for bad input."""


class InvlearnError(ValueError):
    """Bad input: a file, argument or value that is not what invlearn expects (chapter 1).

    The message always names the file or argument and says what was expected, so the command
    line can print it as is and exit non-zero, with no traceback.
    """
