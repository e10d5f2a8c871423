"""Output files written whole or not at all (run records, result tables).

Every file the command line and the grid runner write goes to a temporary name in the same folder
and is renamed into place with :func:`os.replace`, so an interrupted or failed write leaves the
previous file as it was and never a half-written one; a failed write raises
:class:`~invlearn.errors.OutputError` (an :class:`OSError`) naming the file. JSON is always valid
JSON: NaN and ±inf, which :mod:`json` would write as ``NaN`` / ``Infinity``, become ``null``.
"""
from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd

from .errors import OutputError

_UMASK = os.umask(0)
os.umask(_UMASK)


def _write_atomic(path: str | os.PathLike, write: Callable[[IO], None],
                  binary: bool = False) -> Path:
    """Call ``write`` on a temporary file beside ``path`` (text, or bytes with ``binary``), then
    rename it to ``path``."""
    target = Path(path)
    try:
        handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp",
                                             dir=target.parent)
    except OSError as err:
        raise OutputError(err.errno, f"cannot write {target}: {err.strerror}") from err
    try:
        os.chmod(temporary, 0o666 & ~_UMASK)  # mkstemp's 0600 would hide results from others
        text = {} if binary else {"encoding": "utf-8", "newline": ""}
        with os.fdopen(handle, "wb" if binary else "w", **text) as stream:
            write(stream)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, target)
    except BaseException as err:
        Path(temporary).unlink(missing_ok=True)
        if isinstance(err, OSError) and not isinstance(err, OutputError):  # full disk, ulimit
            raise OutputError(err.errno, f"cannot write {target}: {err.strerror}") from err
        raise
    return target


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` whole or not at all; return the path."""
    return _write_atomic(path, lambda stream: stream.write(text))


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` whole or not at all; return the path (a saved model)."""
    return _write_atomic(path, lambda stream: stream.write(data), binary=True)


def json_ready(value: Any) -> Any:
    """``value`` with NumPy scalars and arrays made plain and NaN / ±inf made ``None``."""
    if isinstance(value, Mapping):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [json_ready(v) for v in value]
    if isinstance(value, np.ndarray):
        return json_ready(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return str(value)


def to_json(obj: Any) -> str:
    """``obj`` as strict JSON text (no NaN, no Infinity), indented by one space."""
    return json.dumps(json_ready(obj), indent=1, allow_nan=False) + "\n"


def write_json_atomic(path: str | os.PathLike, obj: Any) -> Path:
    """Write ``obj`` as strict JSON (NaN and ±inf as ``null``) whole or not at all."""
    return write_text_atomic(path, to_json(obj))


def write_csv_atomic(path: str | os.PathLike, frame: pd.DataFrame) -> Path:
    """Write ``frame`` as CSV without its index, whole or not at all. A frame with
    no columns must not be written: its CSV would be a bare newline that ``pd.read_csv``
    cannot read."""
    if len(frame.columns) == 0:
        raise ValueError(f"{path}: a table without columns has no readable CSV; give it a "
                         "header (the columns it would have)")
    return _write_atomic(path, lambda stream: frame.to_csv(stream, index=False))


def read_json_record(path: str | os.PathLike) -> dict | None:
    """The JSON object in ``path``, or ``None`` if it is missing, truncated or not an object."""
    try:
        record = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    return record if isinstance(record, dict) else None
