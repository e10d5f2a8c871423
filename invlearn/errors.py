"""The one exception type the package raises for bad input."""


class InvlearnError(ValueError):
    """Bad input: a file, argument or value that is not what invlearn expects (chapter 1).

    The message always names the file or argument and says what was expected, so the command
    line can print it as is and exit non-zero, with no traceback.
    """


class InvlearnWarning(UserWarning):
    """Data that is probably fine but may mislead: the message says what and how many (chapter 1).

    For example validation users never seen in training, or a (user, item) pair both in
    train and in test. ``warnings.simplefilter("error", InvlearnWarning)`` makes them errors.
    """
