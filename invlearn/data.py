"""Data: the labeled train / validation / test split every method trains on.

Chapter 1 of the book introduces the protocol (SPEC §3): ratings >= 3 are positives, <= 2
negatives, a seeded 60/20/20 split, or an explicit train / validation / test file triple.
"""
from __future__ import annotations

import csv
import hashlib
import http.client
import io
import os
import pathlib
import shutil
import sys
import tempfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from tqdm import tqdm

from .errors import InvlearnError

COLUMNS = ("user", "item", "label")


@dataclass
class Split:
    """A labeled train / validation / test split with contiguous integer ids.

    Each table has int64 columns ``user`` and ``item`` (0-based, ``< n_users`` / ``< n_items``)
    and a float32 column ``label`` in {0, 1}; extra columns (``rating``, ``timestamp``) may follow.
    ``truth`` is an object with ``true_label(users, items) -> np.ndarray`` when the true label of
    every pair is known (the simulated feed), else ``None``. ``user_ids`` / ``item_ids`` map the
    contiguous ids back to the original ones.
    """

    train: pd.DataFrame
    valid: pd.DataFrame
    test: pd.DataFrame
    n_users: int
    n_items: int
    name: str = "data"
    truth: Any | None = None
    user_ids: np.ndarray | None = None
    item_ids: np.ndarray | None = None
    info: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        for part in ("train", "valid", "test"):
            table = getattr(self, part)
            missing = [c for c in COLUMNS if c not in table.columns]
            if missing:
                raise InvlearnError(f"{self.name}: the {part} table lacks column(s) {missing}")
            if len(table) == 0:
                raise InvlearnError(
                    f"{self.name}: the {part} split is empty; every split needs rows"
                )
            for col, bound in (("user", self.n_users), ("item", self.n_items)):
                ids = table[col].to_numpy()
                if ids.min() < 0 or ids.max() >= bound:
                    raise InvlearnError(
                        f"{self.name}: {part} {col} ids must lie in [0, {bound}), "
                        f"found [{ids.min()}, {ids.max()}]"
                    )

    def summary(self) -> pd.DataFrame:
        """Rows, positives and negatives of each part, as a small table."""
        rows = []
        for part in ("train", "valid", "test"):
            y = getattr(self, part)["label"].to_numpy()
            rows.append({"split": part, "rows": len(y), "positive": int((y == 1).sum()),
                         "negative": int((y == 0).sum())})
        return pd.DataFrame(rows).set_index("split")


# --------------------------------------------------------------------------------------------
# Where the data lives (SPEC §3, "Where the data comes from"; book chapter 1)
# --------------------------------------------------------------------------------------------

DATASETS = ("ml-1m", "ml-100k", "ml-1m-paper", "sim", "files")

RATING_COLUMNS = ("user", "item", "rating", "timestamp")

MOVIELENS: dict[str, dict[str, Any]] = {
    "ml-1m": {
        "url": "https://files.grouplens.org/datasets/movielens/ml-1m.zip",
        "md5": "c4d9eecfca2ab87c1945afe126590906",
        "sha256": "a6898adb50b9ca05aa231689da44c217cb524e7ebd39d264c56e2832f2c54e20",
        "size": None,
        "ratings": "ml-1m/ratings.dat",
        "sep": "::",
        "columns": RATING_COLUMNS,
    },
    "ml-100k": {
        "url": "https://files.grouplens.org/datasets/movielens/ml-100k.zip",
        "md5": "0e33842e24a9c977be4e0107933c0723",
        "sha256": "50d2a982c66986937beb9ffb3aa76efe955bf3d5c6b761f4e3a7cd717c6a3229",
        "size": 4_924_029,
        "ratings": "ml-100k/u.data",
        "sep": "\t",
        "columns": RATING_COLUMNS,
    },
}
"""The GroupLens archives: download address, official checksums (SPEC §3), the ratings file
inside the archive, its separator and its columns."""

PAPER_SPLIT_FOLDER = "ml-1m-paper-split"
PAPER_SPLIT_FILES = ("ml1m.train.rating", "ml1m.valid.rating", "ml1m.test.negative")
"""The paper's own ML-1M split (SPEC §3); the test file holds rated pairs despite its name."""

_CHUNK = 1 << 16


def data_home(data_home: str | os.PathLike | None = None) -> pathlib.Path:
    """The folder that holds the data sets (book chapter 1; SPEC §3).

    In order: the explicit ``data_home`` argument, else the environment variable
    ``INVLEARN_DATA``, else a per-user cache folder, ``$XDG_CACHE_HOME/invlearn`` or
    ``~/.cache/invlearn``. The folder is not created here.
    """
    if data_home is not None:
        if not isinstance(data_home, (str, os.PathLike)) or str(data_home) == "":
            raise InvlearnError(f"data_home must be a non-empty path, got {data_home!r}")
        return pathlib.Path(data_home).expanduser()
    env = os.environ.get("INVLEARN_DATA", "")
    if env:
        return pathlib.Path(env).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME", "")
    base = pathlib.Path(cache).expanduser() if cache else pathlib.Path.home() / ".cache"
    return base / "invlearn"


_resolve_home = data_home  # for the functions whose ``data_home`` argument hides the function


def _movielens_entry(name: str) -> dict[str, Any]:
    if name not in MOVIELENS:
        raise InvlearnError(
            f"unknown MovieLens data set {name!r}; known names: {', '.join(MOVIELENS)}"
        )
    return MOVIELENS[name]


def _make_home(home: pathlib.Path) -> None:
    try:
        home.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise InvlearnError(
            f"cannot create the data home {home}: {err}; set INVLEARN_DATA or pass data_home= "
            "to a writable folder"
        ) from err


def _extract(archive: pathlib.Path, name: str, home: pathlib.Path, source: str) -> pathlib.Path:
    """Extract ``archive`` into ``<home>/<name>`` atomically: all of it, or nothing."""
    entry = MOVIELENS[name]
    target = home / name
    try:
        tmp = pathlib.Path(tempfile.mkdtemp(prefix=f".{name}-extract-", dir=home))
    except OSError as err:
        raise InvlearnError(
            f"cannot write to the data home {home} to extract {source}: {err}; set INVLEARN_DATA "
            "or pass data_home= to a writable folder"
        ) from err
    try:
        try:
            with zipfile.ZipFile(archive) as zf:
                if entry["ratings"] not in zf.namelist():
                    raise InvlearnError(
                        f"{source} is not a {name} archive: it lacks {entry['ratings']}"
                    )
                zf.extractall(tmp)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError) as err:
            raise InvlearnError(f"{source} is not a valid zip archive: {err}") from err
        except OSError as err:
            raise InvlearnError(f"cannot extract {source} into {home}: {err}") from err
        if not (tmp / entry["ratings"]).is_file():
            raise InvlearnError(f"{source} is not a {name} archive: it lacks {entry['ratings']}")
        try:
            os.replace(tmp / name, target)
        except OSError as err:
            if (home / entry["ratings"]).is_file():  # someone else finished first: fine
                return target
            raise InvlearnError(
                f"cannot move the extracted {name} into {target}: {err}; if {target} is a "
                "stale, incomplete folder, remove it"
            ) from err
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _download(url: str, dest: pathlib.Path, size: int | None) -> dict[str, Any]:
    """Stream ``url`` into the open-able path ``dest``; return its byte count and digests."""
    sha256, md5, got = hashlib.sha256(), hashlib.md5(usedforsecurity=False), 0
    try:
        with urllib.request.urlopen(url, timeout=60) as response, open(dest, "wb") as out:
            length = response.headers.get("Content-Length")
            length = int(length) if length and length.isdigit() else None
            bar = tqdm(total=length or size, unit="B", unit_scale=True, desc=url.rsplit("/")[-1],
                       disable=not sys.stderr.isatty(), leave=False)
            with bar:
                while True:
                    chunk = response.read(_CHUNK)
                    if not chunk:
                        break
                    out.write(chunk)
                    sha256.update(chunk)
                    md5.update(chunk)
                    got += len(chunk)
                    bar.update(len(chunk))
    except http.client.IncompleteRead as err:
        raise InvlearnError(
            f"truncated download from {url}: the connection closed after "
            f"{got + len(err.partial)} bytes, {err.expected} more were announced"
        ) from err
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as err:
        raise InvlearnError(f"could not download {url}: {err}") from err
    if length is not None and got < length:
        raise InvlearnError(
            f"truncated download from {url}: got {got} bytes, Content-Length said {length}"
        )
    return {"size": got, "sha256": sha256.hexdigest(), "md5": md5.hexdigest()}


def fetch_movielens(
    name: str,
    data_home: str | os.PathLike | None = None,
    url: str | None = None,
    checksum: bool = True,
    expected: Mapping[str, Any] | None = None,
) -> pathlib.Path:
    """Make sure ``<home>/<name>/`` holds the extracted MovieLens archive; return that folder.

    Book chapter 1; SPEC §3, "Where the data comes from". In order:

    1. ``<home>/<name>/`` already holds the ratings file: use it.
    2. ``<home>/<name>.zip`` exists: extract it. Its checksum is *not* checked: a local archive
       is the user's (or the CI's) choice, and the archives in the CI data folder are rebuilt
       from public copies, so their checksums differ from the official ones.
    3. Otherwise download ``url`` (default: the GroupLens address in :data:`MOVIELENS`) into a
       temporary file inside the home and verify its size, sha256 and md5 against ``expected``
       (default: the official values in :data:`MOVIELENS`; a mapping with any of the keys
       ``sha256``, ``md5``, ``size`` replaces them, and keys left out are not checked;
       ``checksum=False`` skips the check). A mismatch or a truncated download raises
       :class:`InvlearnError`. The verified archive is kept as ``<home>/<name>.zip``.

    Extraction is atomic: the archive goes into a temporary folder inside the home that is then
    renamed to ``<home>/<name>``; on any failure no partial file or folder is left behind.
    """
    entry = _movielens_entry(name)
    home = _resolve_home(data_home)
    folder = home / name
    if (home / entry["ratings"]).is_file():
        return folder
    archive = home / f"{name}.zip"
    if archive.is_file():
        return _extract(archive, name, home, source=str(archive))
    if expected is None:
        expected = {k: entry[k] for k in ("sha256", "md5", "size")}
    unknown = set(expected) - {"sha256", "md5", "size"}
    if unknown:
        raise InvlearnError(f"expected has unknown key(s) {sorted(unknown)}; use sha256, md5, size")
    url = url or entry["url"]
    _make_home(home)
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{name}-", suffix=".zip.part", dir=home)
    except OSError as err:
        raise InvlearnError(
            f"cannot write to the data home {home} to download {url}: {err}; set INVLEARN_DATA "
            "or pass data_home= to a writable folder"
        ) from err
    os.close(fd)
    tmp = pathlib.Path(tmp_name)
    try:
        got = _download(url, tmp, expected.get("size"))
        if checksum:
            size = expected.get("size")
            if size is not None and got["size"] != size:
                what = "truncated download" if got["size"] < size else "size mismatch"
                raise InvlearnError(
                    f"{what} from {url}: expected {size} bytes, got {got['size']}"
                )
            for algo in ("sha256", "md5"):
                want = expected.get(algo)
                if want is not None and got[algo] != str(want).lower():
                    raise InvlearnError(
                        f"checksum mismatch for {url}: expected {algo} {want}, got {got[algo]}"
                    )
        _extract(tmp, name, home, source=url)
        os.replace(tmp, archive)
    finally:
        tmp.unlink(missing_ok=True)
    return folder


# --------------------------------------------------------------------------------------------
# Reading and checking ratings files (SPEC §3; book chapter 1)
# --------------------------------------------------------------------------------------------

_GUESS_SEPS = ("\t", "::", ",", ";", "|", " ")


def _lines(data: bytes, sep: bytes) -> list[tuple[int, bytes]]:
    """The lines of ``data`` that pandas reads as rows, with their 1-based line numbers.

    Like pandas' C parser, a line of nothing but white space and no separator is skipped.
    """
    out = []
    for number, line in enumerate(data.split(b"\n"), start=1):
        line = line.rstrip(b"\r")
        if line.strip() or sep in line:
            out.append((number, line))
    return out


def _first_line(data: bytes) -> bytes | None:
    start = 0
    while start < len(data):
        end = data.find(b"\n", start)
        end = len(data) if end < 0 else end
        line = data[start:end].rstrip(b"\r")
        if line.strip():
            return line
        start = end + 1
    return None


def _show(line: bytes) -> str:
    text = line.decode("latin-1")
    return repr(text if len(text) <= 60 else text[:57] + "...")


def _bad_row(data: bytes, sep: bytes, row: int, source: str, what: str) -> InvlearnError:
    number, line = _lines(data, sep)[row]
    return InvlearnError(f"{source}, line {number}: {what} (line {_show(line)})")


def _parse_ratings(
    data: bytes,
    source: str,
    sep: str,
    names: Sequence[str],
    rating_range: tuple[float, float] | None,
    min_fields: int,
) -> pd.DataFrame:
    """Parse and check the bytes of a ratings file; ``source`` names it in every message."""
    names = tuple(names)
    if not sep:
        raise InvlearnError("sep must be a non-empty string")
    first = _first_line(data)  # the first non-blank line tells the number of fields
    if first is None:
        raise InvlearnError(f"{source} is empty; expected lines of {' '.join(names)}")
    bsep = sep.encode()
    n = len(first.split(bsep))
    if n == 1 and min_fields > 1:
        text = first.decode("latin-1")
        guess = [s for s in _GUESS_SEPS if s != sep and min_fields <= len(text.split(s))]
        hint = f" The file looks separated by {guess[0]!r}." if guess else ""
        raise InvlearnError(
            f"{source}: line 1 has a single field with separator {sep!r}, expected "
            f"{min_fields} ({' '.join(names[:min_fields])}); wrong separator?{hint}"
        )
    if not min_fields <= n <= len(names):
        want = str(len(names)) if min_fields == len(names) else f"{min_fields} to {len(names)}"
        raise InvlearnError(
            f"{source}: line 1 has {n} fields, expected {want} ({' '.join(names)}) "
            f"separated by {sep!r}"
        )
    names, raw = names[:n], data

    def bad(row: int, what: str) -> InvlearnError:
        return _bad_row(raw, sep.encode(), row, source, what)

    if len(bsep) > 1:  # the C parser wants one character; "::" files are the slow path otherwise
        data = data.replace(bsep, b"\x1f")
        bsep = b"\x1f"
    try:
        table = pd.read_csv(io.BytesIO(data), sep=bsep.decode(), header=None, names=list(names),
                            index_col=False, quoting=csv.QUOTE_NONE, engine="c")
    except (pd.errors.ParserError, ValueError, UnicodeDecodeError) as err:
        for number, line in _lines(data, bsep):
            if len(line.split(bsep)) != n:
                raise InvlearnError(
                    f"{source}, line {number}: {len(line.split(bsep))} fields, expected {n} "
                    f"like line 1 ({' '.join(names)})"
                ) from err
        raise InvlearnError(f"{source}: cannot parse as {' '.join(names)}: {err}") from err
    missing = table.isna().to_numpy().any(axis=1)
    if missing.any():
        row = int(np.argmax(missing))
        raise bad(row, f"missing or empty field(s), expected {n} ({' '.join(names)}) "
                       f"separated by {sep!r}")
    for col in names:
        values = table[col]
        if col == "rating":
            numeric = pd.to_numeric(values, errors="coerce")
            if numeric.isna().any():
                row = int(np.argmax(numeric.isna().to_numpy()))
                raise bad(row, f"rating {values.iloc[row]!r} is not a number")
            rating = numeric.to_numpy(dtype=np.float64)
            if not np.isfinite(rating).all():
                row = int(np.argmax(~np.isfinite(rating)))
                raise bad(row, f"rating {rating[row]} is not a finite number")
            if rating_range is not None:
                low, high = rating_range
                outside = (rating < low) | (rating > high)
                if outside.any():
                    row = int(np.argmax(outside))
                    raise bad(row, f"rating {rating[row]:g} outside the range [{low:g}, {high:g}]")
            table[col] = rating.astype(np.float32)
            continue
        kind = "id" if col in ("user", "item") else "value"
        if values.dtype.kind == "u":  # above 2**63 - 1
            raise InvlearnError(f"{source}: {col} {kind}s do not fit a signed 64-bit integer")
        if values.dtype.kind != "i":  # slow path, errors only: read the text again
            text = pd.read_csv(io.BytesIO(data), sep=bsep.decode(), header=None,
                               names=list(names), usecols=[col], dtype=str, index_col=False,
                               quoting=csv.QUOTE_NONE, engine="c")[col]
            row = int(np.argmax(~text.str.fullmatch(r"\s*[+-]?\d+\s*").to_numpy()))
            hint = " (a header line? the file must have none)" if row == 0 else ""
            raise bad(row, f"{col} {kind} {text.iloc[row]!r} is not an integer{hint}")
        if (values < 0).any():
            row = int(np.argmax((values < 0).to_numpy()))
            raise bad(row, f"{col} {kind} {values.iloc[row]} is negative")
        table[col] = values.astype(np.int64)
    return table


def read_ratings(
    path: str | os.PathLike,
    sep: str = "\t",
    names: Sequence[str] = RATING_COLUMNS,
    rating_range: tuple[float, float] | None = (1, 5),
    min_fields: int | None = None,
) -> pd.DataFrame:
    """Read a headerless ratings file ``user item rating [timestamp]`` and check it.

    Book chapter 1; SPEC §3. Every line must have the same number of fields: ``len(names)``, or
    between ``min_fields`` and ``len(names)`` when ``min_fields`` is given (the trailing columns
    are then optional, decided by line 1). ``user``, ``item`` and ``timestamp`` must be
    non-negative integers (int64, ids above 2**31 are fine); ``rating`` a number inside
    ``rating_range`` (``None``: any number), stored as float32. A multi-character ``sep`` such
    as MovieLens-1M's ``::`` is read with pandas' fast C parser by rewriting it first.

    Any problem (missing or empty file, wrong separator, a line with missing fields, a
    non-integer or negative id, a rating that is not a number or out of range) raises
    :class:`InvlearnError` naming the file and, where there is one, the line.
    """
    path = pathlib.Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError as err:
        raise InvlearnError(f"ratings file {path} does not exist") from err
    except OSError as err:
        raise InvlearnError(f"cannot read ratings file {path}: {err}") from err
    return _parse_ratings(data, str(path), sep, names, rating_range,
                          len(names) if min_fields is None else min_fields)


# --------------------------------------------------------------------------------------------
# MovieLens, labels and splits (SPEC §3; book chapter 1)
# --------------------------------------------------------------------------------------------


def _contiguous(*columns: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """Map original ids to 0-based contiguous ids, sorted by original id, over all columns."""
    ids = np.unique(np.concatenate(columns))
    return ids, [np.searchsorted(ids, col).astype(np.int64) for col in columns]


def load_movielens(name: str, data_home: str | os.PathLike | None = None) -> pd.DataFrame:
    """The ratings of a MovieLens data set as a tidy table (book chapter 1; SPEC §3).

    Columns ``user``, ``item`` (int64, contiguous 0-based ids numbered in the order of the
    original ids), ``rating`` (float32) and ``timestamp`` (int64), in file order.
    ``.attrs["user_ids"]`` and ``.attrs["item_ids"]`` are numpy arrays of the original ids:
    ``attrs["user_ids"][u]`` is the original id of user ``u``.

    The ratings are read from ``<home>/<name>/`` when extracted there, else straight out of
    ``<home>/<name>.zip`` (no extraction, so a read-only data home such as the CI's works, and
    no checksum check for a local archive), else downloaded by :func:`fetch_movielens`.
    """
    entry = _movielens_entry(name)
    home = _resolve_home(data_home)
    extracted, archive = home / entry["ratings"], home / f"{name}.zip"
    if extracted.is_file() or not archive.is_file():
        if not extracted.is_file():
            fetch_movielens(name, data_home=home)
        table = read_ratings(extracted, sep=entry["sep"], names=entry["columns"])
    else:
        source = f"{archive}:{entry['ratings']}"
        try:
            with zipfile.ZipFile(archive) as zf:
                data = zf.read(entry["ratings"])
        except KeyError as err:
            raise InvlearnError(f"{archive} is not a {name} archive: it lacks {entry['ratings']}") \
                from err
        except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError) as err:
            raise InvlearnError(f"{archive} is not a valid zip archive: {err}") from err
        table = _parse_ratings(data, source, entry["sep"], entry["columns"], (1, 5),
                               len(entry["columns"]))
    user_ids, (users,) = _contiguous(table["user"].to_numpy())
    item_ids, (items,) = _contiguous(table["item"].to_numpy())
    table["user"], table["item"] = users, items
    table.attrs["user_ids"], table.attrs["item_ids"] = user_ids, item_ids
    return table


def binarize(ratings: pd.DataFrame, threshold: float = 3) -> pd.DataFrame:
    """Add the float32 ``label`` column: 1 for ``rating >= threshold``, else 0.

    Book chapter 1; SPEC §3: with the default threshold 3, MovieLens-1M has 836,478 positive and
    163,731 negative ratings. Returns a new table; ``ratings`` is not changed.
    """
    if "rating" not in ratings.columns:
        raise InvlearnError(f"ratings must have a 'rating' column, got {list(ratings.columns)}")
    if not isinstance(threshold, (int, float, np.number)) or not np.isfinite(threshold):
        raise InvlearnError(f"threshold must be a finite number, got {threshold!r}")
    table = ratings.copy()
    table["label"] = (table["rating"].to_numpy() >= threshold).astype(np.float32)
    return table


def _check_fractions(fractions: Any) -> tuple[float, float, float]:
    try:
        values = tuple(float(f) for f in fractions)
    except (TypeError, ValueError) as err:
        raise InvlearnError(
            f"fractions must be three numbers (train, valid, test), got {fractions!r}"
        ) from err
    if len(values) != 3:
        raise InvlearnError(
            f"fractions must be three numbers (train, valid, test), got {len(values)}: "
            f"{fractions!r}"
        )
    if not all(np.isfinite(v) and v > 0 for v in values):
        raise InvlearnError(f"fractions must all be positive, got {fractions!r}")
    if abs(sum(values) - 1) > 1e-6:
        raise InvlearnError(f"fractions must sum to 1, got {fractions!r} (sum {sum(values):g})")
    train, valid, test = values
    return train, valid, test


def _id_count(table: pd.DataFrame, col: str, given: int | None, ids: Any) -> int:
    if given is not None:
        if not isinstance(given, (int, np.integer)) or given <= 0:
            raise InvlearnError(f"n_{col}s must be a positive integer, got {given!r}")
        return int(given)
    if ids is not None:
        return len(ids)
    return int(table[col].max()) + 1


def random_split(
    table: pd.DataFrame,
    fractions: Sequence[float] = (0.6, 0.2, 0.2),
    seed: int = 0,
    name: str = "data",
    n_users: int | None = None,
    n_items: int | None = None,
) -> Split:
    """A seeded random train / validation / test split of the rows (book chapter 1; SPEC §3).

    The rows are shuffled with ``numpy.random.default_rng(seed).permutation``; the first
    ``round(fractions[0] * n)`` go to train, the next ``round(fractions[1] * n)`` to validation,
    the rest to test; each part keeps the original row order. ``table`` needs ``user``, ``item``
    and ``label`` columns. ``n_users`` / ``n_items`` default to the length of
    ``table.attrs["user_ids"]`` / ``["item_ids"]`` when present, else the largest id + 1.
    """
    values = _check_fractions(fractions)
    missing = [c for c in COLUMNS if c not in table.columns]
    if missing:
        raise InvlearnError(f"table lacks column(s) {missing}; binarize the ratings first")
    n = len(table)
    n_train, n_valid = round(values[0] * n), round(values[1] * n)
    sizes = {"train": n_train, "valid": n_valid, "test": n - n_train - n_valid}
    empty = [part for part, size in sizes.items() if size <= 0]
    if empty:
        raise InvlearnError(
            f"{name}: fractions={tuple(fractions)!r} of {n} rows leave the {empty[0]} split empty"
        )
    order = np.random.default_rng(seed).permutation(n)
    cuts = np.split(order, [n_train, n_train + n_valid])
    parts = []
    for rows in cuts:
        part = table.iloc[np.sort(rows)].reset_index(drop=True)
        part.attrs = {}
        parts.append(part)
    user_ids, item_ids = table.attrs.get("user_ids"), table.attrs.get("item_ids")
    return Split(
        *parts,
        n_users=_id_count(table, "user", n_users, user_ids),
        n_items=_id_count(table, "item", n_items, item_ids),
        name=name,
        user_ids=user_ids,
        item_ids=item_ids,
        info={"seed": seed, "fractions": values},
    )


def load_split_files(
    train: str | os.PathLike,
    valid: str | os.PathLike,
    test: str | os.PathLike,
    sep: str = "\t",
    rating_threshold: float = 3,
    name: str = "files",
    rating_range: tuple[float, float] | None = (1, 5),
) -> Split:
    """A split from a train / validation / test file triple (book chapter 1; SPEC §3).

    Each file is headerless ``user item rating`` or ``user item rating timestamp`` with original
    ids (checked by :func:`read_ratings`). The ids are mapped to contiguous 0-based ids over the
    union of the three files, numbered in the order of the original ids; ``Split.user_ids`` /
    ``item_ids`` map them back. ``label`` is ``rating >= rating_threshold``. This reads the
    paper's own ML-1M split (``ml1m.train.rating``, ``ml1m.valid.rating`` and
    ``ml1m.test.negative``, which holds rated test pairs despite its name).
    """
    paths = {"train": train, "valid": valid, "test": test}
    tables = {part: read_ratings(path, sep=sep, rating_range=rating_range, min_fields=3)
              for part, path in paths.items()}
    user_ids, users = _contiguous(*(t["user"].to_numpy() for t in tables.values()))
    item_ids, items = _contiguous(*(t["item"].to_numpy() for t in tables.values()))
    parts = []
    for table, u, i in zip(tables.values(), users, items):
        table["user"], table["item"] = u, i
        parts.append(binarize(table, rating_threshold))
    return Split(*parts, n_users=len(user_ids), n_items=len(item_ids), name=name,
                 user_ids=user_ids, item_ids=item_ids,
                 info={"files": {part: str(path) for part, path in paths.items()}})


def _take(kwargs: dict[str, Any], name: str, allowed: Sequence[str]) -> dict[str, Any]:
    unknown = sorted(set(kwargs) - set(allowed))
    if unknown:
        raise InvlearnError(
            f"data set {name!r} takes no option(s) {unknown}; it accepts "
            f"{', '.join(allowed) if allowed else 'none'}"
        )
    return kwargs


def load_dataset(
    name: str, seed: int = 0, data_home: str | os.PathLike | None = None, **kwargs: Any
) -> Split:
    """The labeled split of a data set by name: the one entry point of the CLI (book chapter 1).

    SPEC §3. ``name`` is one of :data:`DATASETS`:

    * ``"ml-1m"``, ``"ml-100k"``: :func:`load_movielens`, :func:`binarize` and a seeded
      :func:`random_split`; options ``fractions`` and ``rating_threshold``.
    * ``"ml-1m-paper"``: the paper's own split, read by :func:`load_split_files` from
      ``<home>/ml-1m-paper-split/`` (files :data:`PAPER_SPLIT_FILES`); ``rating_threshold``.
    * ``"files"``: :func:`load_split_files` on the options ``train``, ``valid``, ``test``
      (required), ``sep``, ``rating_threshold``, ``rating_range``.
    * ``"sim"``: the simulated passive feed, ``simulate_feed(size="small", seed=seed,
      **kwargs).to_split(seed=seed)`` from :mod:`invlearn.simfeed` (chapter 2).
    """
    if name in MOVIELENS:
        opts = _take(kwargs, name, ("fractions", "rating_threshold"))
        ratings = binarize(load_movielens(name, data_home), opts.get("rating_threshold", 3))
        return random_split(ratings, opts.get("fractions", (0.6, 0.2, 0.2)), seed=seed,
                            name=name)
    if name == "ml-1m-paper":
        opts = _take(kwargs, name, ("rating_threshold",))
        folder = _resolve_home(data_home) / PAPER_SPLIT_FOLDER
        paths = [folder / f for f in PAPER_SPLIT_FILES]
        absent = [p.name for p in paths if not p.is_file()]
        if absent:
            raise InvlearnError(
                f"the paper split needs {', '.join(PAPER_SPLIT_FILES)} in {folder}; "
                f"missing: {', '.join(absent)}"
            )
        return load_split_files(*paths, rating_threshold=opts.get("rating_threshold", 3),
                                name=name)
    if name == "files":
        opts = _take(kwargs, name, ("train", "valid", "test", "sep", "rating_threshold",
                                    "rating_range"))
        absent = [k for k in ("train", "valid", "test") if opts.get(k) is None]
        if absent:
            raise InvlearnError(f"data set 'files' needs the paths train, valid and test; "
                                f"missing: {', '.join(absent)}")
        return load_split_files(**opts, name=name)
    if name == "sim":
        from .simfeed import simulate_feed

        opts = dict(kwargs)
        size = opts.pop("size", "small")
        return simulate_feed(size=size, seed=seed, **opts).to_split(seed=seed)
    raise InvlearnError(f"unknown data set {name!r}; valid names: {', '.join(DATASETS)}")
