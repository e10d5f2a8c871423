"""The one exception type the package raises for bad input, and its warning."""
from __future__ import annotations

import dataclasses
import math
import numbers
import os
import sys
import warnings
from typing import Any

_PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep


class InvlearnError(ValueError):
    """Bad input: a file, argument or value that is not what invlearn expects.

    The message always names the file or argument and says what was expected, so the command
    line can print it as is and exit non-zero, with no traceback.
    """


class TrainingDiverged(RuntimeError):
    """A run whose model's scores became NaN: the input was valid, training blew up (usually
    a learning rate far too large). Not bad input, so not an :class:`InvlearnError`.
    """


class OutputError(OSError):
    """An output file that could not be written (a full disk, a file size limit, a folder
    gone): the message names the file; the previous file, if any, is left as it was."""

    def __str__(self) -> str:
        return str(self.strerror)


class InvlearnWarning(UserWarning):
    """Data that is probably fine but may mislead: the message says what and how many.

    For example validation users never seen in training, or a (user, item) pair both in
    train and in test. ``warnings.simplefilter("error", InvlearnWarning)`` makes them errors.
    """


def check_int(value: Any, name: str, low: int = 1, high: int | None = None) -> int:
    """``value`` as an ``int`` in ``[low, high]`` (numpy integers count, a bool does not), or an
    :class:`InvlearnError` naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low or (
            high is not None and value > high):
        what = ("a positive integer" if (low, high) == (1, None) else f"an integer >= {low}"
                if high is None else f"an integer in [{low}, {high}]")
        raise InvlearnError(f"{name} must be {what}, got {value!r}")
    return int(value)


def check_number(value: Any, name: str, low: float, high: float, open_low: bool = False,
                 open_high: bool = False) -> float:
    """``value`` as a finite ``float`` in the interval from ``low`` to ``high`` (open at either
    end when asked), or an :class:`InvlearnError` naming ``name``; a bool is not a number."""
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if ok:
        value = float(value)
        ok = math.isfinite(value) and (value > low if open_low else value >= low) and (
            value < high if open_high else value <= high)
    if not ok:
        lb, rb = "(" if open_low else "[", ")" if open_high else "]"
        raise InvlearnError(f"{name} must be a number in {lb}{low}, {high}{rb}, got {value!r}")
    return value


def warn(message: str) -> None:
    """Issue an :class:`InvlearnWarning` that points at the first caller outside the package
    (the user's line, not ``return Split(``); a dataclass's generated ``__init__`` between a
    ``__post_init__`` and its caller, and :func:`dataclasses.replace`, are passed over too."""
    frame, level, below = sys._getframe(1), 2, ""
    while frame is not None:
        name, code = frame.f_code.co_filename, frame.f_code.co_name
        if name.startswith("<"):
            inside = code == "__init__" and below == "__post_init__"
        else:
            inside = os.path.abspath(name).startswith(_PACKAGE) or name == dataclasses.__file__
        if not inside:
            break
        frame, level, below = frame.f_back, level + 1, code
    warnings.warn(message, InvlearnWarning, stacklevel=level)
