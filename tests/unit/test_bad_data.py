"""Generated bad input: malformed ratings files and bad Split tables raise InvlearnError only.

Book chapter 1 promises one clear error for bad data; hypothesis generates the bad data here:
bad separators, non-integers, oversized integers, negative ids, NaN, missing fields, empty
files and binary junk in rating files, and bad labels, ids and columns in Split tables.
"""
from __future__ import annotations

import pathlib
import tempfile
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from invlearn.errors import InvlearnError, InvlearnWarning
from invlearn.movielens import read_ratings
from invlearn.splits import Split, load_split_files

SETTINGS = settings(max_examples=50, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])

INT64_MAX = 2**63 - 1
rows = st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 10**6), st.integers(1, 5),
                          st.integers(0, 2**40)), min_size=1, max_size=20)
not_an_integer = st.text(st.characters(codec="latin-1", exclude_characters="\t\r\n"),
                         min_size=1, max_size=8).filter(
    lambda s: not s.strip(" ").lstrip("+-").isdigit() or not s.strip(" ").isascii())
junk = st.binary(min_size=1, max_size=12).filter(
    lambda b: not (b.strip(b" ").lstrip(b"+-").isdigit()) and not set(b) & set(b"\t\r\n"))


def lines(table: list[tuple]) -> list[list[str]]:
    return [[str(v) for v in row] for row in table]


def corrupt(fields: list[list[str]], kind: str, value: object, row: int, col: int) -> bytes:
    """Bytes of a tab-separated file with one corruption of kind ``kind`` at (row, col)."""
    row, sep = row % len(fields), "\t"
    fields = [list(f) for f in fields]
    if kind == "separator":
        sep = value
    elif kind == "missing":
        del fields[row][col % 4]
    elif kind == "empty":
        return value
    elif kind == "junk":
        text = [sep.join(f).encode() for f in fields]
        cells = text[row].split(b"\t")
        cells[col % 4] = value
        text[row] = b"\t".join(cells)
        return b"\n".join(text) + b"\n"
    else:  # a bad value in an id, rating or timestamp column
        fields[row][col % 4 if kind != "nan" else col % 3] = str(value)
    return ("\n".join(sep.join(f) for f in fields) + "\n").encode("latin-1")


bad_files = st.one_of(
    st.tuples(st.just("separator"), st.sampled_from([",", ";", " ", "|", "::"])),
    st.tuples(st.just("integer"), not_an_integer),
    st.tuples(st.just("oversized"), st.integers(INT64_MAX + 1, 10**40)),
    st.tuples(st.just("negative"), st.integers(-(10**20), -1)),
    st.tuples(st.just("nan"), st.sampled_from(["nan", "NaN", "NA", "null", "inf", "-inf"])),
    st.tuples(st.just("missing"), st.none()),
    st.tuples(st.just("empty"), st.sampled_from([b"", b"\n", b"  \n\n", b"\r\n"])),
    st.tuples(st.just("junk"), junk),
)


def check_raises_naming(path: pathlib.Path, call) -> None:
    try:
        call()
    except InvlearnError as err:
        assert str(path) in str(err)
        return
    raise AssertionError(f"no InvlearnError for {path.read_bytes()!r}")


@SETTINGS
@given(table=rows, bad=bad_files, row=st.integers(0, 100), col=st.integers(0, 3))
def test_read_ratings_rejects_generated_bad_files(table, bad, row, col):
    kind, value = bad
    if kind == "oversized" or kind == "negative":
        col = col if col != 2 else 0  # ids and timestamps: the rating has its own range
    if kind == "integer" and col % 4 == 2:
        col = 1
    with tempfile.TemporaryDirectory() as folder:
        path = pathlib.Path(folder) / "generated.tsv"
        path.write_bytes(corrupt(lines(table), kind, value, row, col))
        check_raises_naming(path, lambda: read_ratings(path))


@SETTINGS
@given(table=rows, bad=bad_files, row=st.integers(0, 100), col=st.integers(0, 3),
       which=st.sampled_from(["train", "valid", "test"]))
def test_load_split_files_names_the_generated_bad_file(table, bad, row, col, which):
    kind, value = bad
    if kind in ("oversized", "negative", "integer") and col % 4 == 2:
        col = 0
    if kind == "missing" and col % 4 == 3:  # the timestamp is optional: its absence is no error
        col = 0
    good = "1\t1\t5\t10\n2\t2\t1\t11\n"
    with tempfile.TemporaryDirectory() as folder:
        paths = {part: pathlib.Path(folder) / f"{part}.rating" for part in ("train", "valid",
                                                                           "test")}
        for part, path in paths.items():
            path.write_text(good.replace("\t1\t5", f"\t{len(part)}\t5"))
        paths[which].write_bytes(corrupt(lines(table), kind, value, row, col))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", InvlearnWarning)
            check_raises_naming(paths[which], lambda: load_split_files(**paths))


# ------------------------------------------------------------------------------ Split tables


def good_parts() -> dict[str, pd.DataFrame]:
    def part(users, items, labels):
        return pd.DataFrame({"user": np.array(users, np.int64), "item": np.array(items, np.int64),
                             "label": np.array(labels, np.float32)})
    return {"train": part([0, 0, 1, 1], [0, 1, 0, 1], [1, 0, 0, 1]),
            "valid": part([0, 1], [2, 2], [1, 0]), "test": part([0, 1], [3, 3], [0, 1])}


bad_labels = st.one_of(
    st.floats(allow_nan=True).filter(lambda x: x not in (0.0, 1.0)),
    st.integers(-(2**62), 2**62).filter(lambda x: x not in (0, 1)),
    st.text(max_size=4),
    st.sampled_from(["0", "1", b"1"]),
)
bad_ids = st.one_of(st.integers(-(2**62), -1), st.integers(4, 2**62),
                    st.floats(allow_nan=True), st.text(min_size=1, max_size=4))
bad_tables = st.one_of(
    st.tuples(st.just("label"), bad_labels),
    st.tuples(st.just("user"), bad_ids),
    st.tuples(st.just("item"), bad_ids),
    st.tuples(st.just("drop"), st.sampled_from(["user", "item", "label"])),
    st.tuples(st.just("conflict"), st.none()),
    st.tuples(st.just("empty"), st.none()),
    st.tuples(st.just("one class"), st.sampled_from([0.0, 1.0])),
)


@SETTINGS
@given(bad=bad_tables, which=st.sampled_from(["train", "valid", "test"]), row=st.integers(0, 1))
def test_split_rejects_generated_bad_tables(bad, which, row):
    kind, value = bad
    parts = good_parts()
    table = parts[which]
    if kind in ("label", "user", "item") and not isinstance(value, int):
        table = table.astype(object)
    if kind in ("label", "user", "item"):
        table.loc[row, kind] = value
    elif kind == "drop":
        table = table.drop(columns=value)
    elif kind == "conflict":
        flipped = table.iloc[[row]].assign(label=1 - table["label"].iloc[row])
        table = pd.concat([table, flipped], ignore_index=True)
    elif kind == "empty":
        table = table.iloc[:0]
    elif which != "train":  # one class
        table = table.assign(label=np.float32(value))
    else:
        return  # a single-class train part is allowed
    parts[which] = table
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InvlearnWarning)
        with pytest.raises(InvlearnError):
            Split(**parts, n_users=2, n_items=4, name="generated")
