"""Output files are written whole or not at all, and JSON is strict (chapters 6 and 8)."""
import json
import math
import os

import numpy as np
import pandas as pd
import pytest

from invlearn import io
from invlearn.io import (
    read_json_record,
    to_json,
    write_csv_atomic,
    write_json_atomic,
    write_text_atomic,
)


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_json_has_null_for_nan_and_inf(tmp_path):
    path = write_json_atomic(tmp_path / "r.json", {"a": float("nan"), "b": [np.inf, -np.inf],
                                                   "c": np.float32(0.5), "d": np.int64(3),
                                                   "e": {"f": np.array([1.0, np.nan])}})
    text = path.read_text()
    assert "NaN" not in text and "Infinity" not in text
    loaded = json.loads(text, parse_constant=lambda c: pytest.fail(f"non-standard {c}"))
    assert loaded == {"a": None, "b": [None, None], "c": 0.5, "d": 3, "e": {"f": [1.0, None]}}


def test_to_json_rejects_nothing_json_cannot_hold():
    assert json.loads(to_json({"p": os.path.join("a", "b"), "x": (1, 2)})) == {
        "p": os.path.join("a", "b"), "x": [1, 2]}


def test_failed_write_keeps_the_previous_file_and_no_temporary(tmp_path):
    path = tmp_path / "results.json"
    write_json_atomic(path, {"old": 1})

    class Unprintable:
        def __str__(self):
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        write_json_atomic(path, {"new": Unprintable()})
    assert json.loads(path.read_text()) == {"old": 1}
    assert leftovers(tmp_path) == []


def test_interrupted_rename_keeps_the_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "results.csv"
    write_csv_atomic(path, pd.DataFrame({"a": [1, 2]}))

    def no_rename(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(io.os, "replace", no_rename)
    with pytest.raises(OSError):
        write_csv_atomic(path, pd.DataFrame({"a": [3]}))
    assert pd.read_csv(path)["a"].tolist() == [1, 2]
    assert leftovers(tmp_path) == []


def test_text_and_csv_round_trip_and_are_readable_by_others(tmp_path):
    write_text_atomic(tmp_path / "t.txt", "hello\n")
    assert (tmp_path / "t.txt").read_text() == "hello\n"
    frame = pd.DataFrame({"method": ["ns", "ig"], "auc": [0.5, math.nan]})
    write_csv_atomic(tmp_path / "t.csv", frame)
    back = pd.read_csv(tmp_path / "t.csv")
    assert back["method"].tolist() == ["ns", "ig"] and math.isnan(back["auc"].iloc[1])
    assert (tmp_path / "t.csv").stat().st_mode & 0o044  # not mkstemp's private 0600


def test_read_json_record_says_none_for_broken_records(tmp_path):
    good = write_json_atomic(tmp_path / "good.json", {"auc": 0.7})
    assert read_json_record(good) == {"auc": 0.7}
    (tmp_path / "cut.json").write_text('{"auc": 0.7, "gauc"')
    (tmp_path / "list.json").write_text("[1, 2]")
    (tmp_path / "bytes.json").write_bytes(b"\xff\xfe\x00")
    for name in ("cut.json", "list.json", "bytes.json", "absent.json"):
        assert read_json_record(tmp_path / name) is None
