"""MovieLens on disk: the data home, checksummed downloads, archives and ratings files.

Book chapter 1 introduces the data and chapter 6 reproduces the paper's MovieLens-1M results
(Inverse Learning, WSDM'24, Section 5.1). Ratings >= 3 are positives, <= 2 negatives
(:func:`binarize`). The GroupLens licence forbids redistribution, so the archives are read from
a data home (:func:`data_home`) or downloaded and verified against the official checksums.
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
import zlib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from tqdm import tqdm

from .errors import InvlearnError

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
"""The GroupLens archives, each with its download address, official checksums (as GroupLens
publishes them), the ratings file inside the archive, its separator and its columns."""

PAPER_SPLIT_FOLDER = "ml-1m-paper-split"
PAPER_SPLIT_FILES = ("ml1m.train.rating", "ml1m.valid.rating", "ml1m.test.negative")
"""The Inverse Learning paper's own ML-1M split (its Section 5.1); the test file holds rated
pairs despite its name."""

_CHUNK = 1 << 16

ARCHIVE_MODE = 0o644
"""File mode of a downloaded archive, readable by the group and others, like a shared cache."""


def data_home(data_home: str | os.PathLike | None = None) -> pathlib.Path:
    """The folder that holds the data sets.

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
        raise InvlearnError(f"unknown MovieLens data set {name!r}; known names: "
                            f"{', '.join(MOVIELENS)}")
    return MOVIELENS[name]


def _make_home(home: pathlib.Path) -> list[pathlib.Path]:
    """Create ``home`` and its missing parents; return the folders created, deepest first."""
    created = [p for p in (home, *home.parents) if not p.exists()]
    try:
        home.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        _remove_empty(created)
        raise _home_error(f"create the data home {home}", err) from err
    return created


def _home_error(doing: str, err: OSError) -> InvlearnError:
    return InvlearnError(f"cannot {doing}: {err}; set INVLEARN_DATA or pass data_home= to a "
                         f"writable folder")


def _remove_empty(folders: list[pathlib.Path]) -> None:
    """Remove ``folders`` (deepest first) that are still empty; keep any that are not."""
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:
            return


def _extract(archive: pathlib.Path, name: str, home: pathlib.Path, source: str) -> pathlib.Path:
    """Extract ``archive`` into ``<home>/<name>`` atomically: all of it, or nothing."""
    entry = MOVIELENS[name]
    target = home / name
    try:
        tmp = pathlib.Path(tempfile.mkdtemp(prefix=f".{name}-extract-", dir=home))
    except OSError as err:
        raise _home_error(f"write to the data home {home} to extract {source}", err) from err
    try:
        try:
            with zipfile.ZipFile(archive) as zf:
                if entry["ratings"] not in zf.namelist():
                    raise InvlearnError(f"{source} is not a {name} archive: it lacks "
                                        f"{entry['ratings']}")
                zf.extractall(tmp)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, zlib.error) as err:
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
            raise InvlearnError(f"cannot move the extracted {name} into {target}: {err}; if "
                                f"{target} is a stale, incomplete folder, remove it") from err
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
        raise InvlearnError(f"truncated download from {url}: the connection closed after "
                            f"{got + len(err.partial)} bytes, {err.expected} more were announced") \
            from err
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as err:
        raise InvlearnError(f"could not download {url}: {err}") from err
    if length is not None and got < length:
        raise InvlearnError(f"truncated download from {url}: got {got} bytes, Content-Length "
                            f"said {length}")
    return {"size": got, "sha256": sha256.hexdigest(), "md5": md5.hexdigest()}


def _verify(got: Mapping[str, Any], expected: Mapping[str, Any], url: str) -> None:
    """Raise :class:`~invlearn.errors.InvlearnError` when a download's size or digests differ
    from ``expected``."""
    size = expected.get("size")
    if size is not None and got["size"] != size:
        what = "truncated download" if got["size"] < size else "size mismatch"
        raise InvlearnError(f"{what} from {url}: expected {size} bytes, got {got['size']}")
    for algo in ("sha256", "md5"):
        want = expected.get(algo)
        if want is not None and got[algo] != str(want).lower():
            raise InvlearnError(f"checksum mismatch for {url}: expected {algo} {want}, got "
                                f"{got[algo]}")


def _remove_stale_parts(home: pathlib.Path, name: str) -> None:
    """Remove the ``.part`` files that killed downloads of ``name`` left in ``home``.

    A download's temporary name carries its process id; a file whose process is still alive
    belongs to a download in progress and is left alone.
    """
    for part in home.glob(f".{name}-*.zip.part"):
        pid = part.name[len(name) + 2:].split("-", 1)[0]
        if pid.isdigit() and _process_alive(int(pid)):
            continue
        part.unlink(missing_ok=True)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except PermissionError:  # it exists, run by another user
        return True
    except (OverflowError, OSError):  # no such process (or not a possible process id)
        return False
    return True


def fetch_movielens(name: str, data_home: str | os.PathLike | None = None,
                    url: str | None = None, checksum: bool = True,
                    expected: Mapping[str, Any] | None = None) -> pathlib.Path:
    """Make sure ``<home>/<name>/`` holds the extracted MovieLens archive; return that folder.

    1. ``<home>/<name>/`` already holds the ratings file: use it.
    2. ``<home>/<name>.zip`` exists: extract it. Its checksum is *not* checked: a local archive
       is the user's (or the CI's) choice, and the CI's archives are rebuilt from public copies,
       so their checksums differ from the official ones.
    3. Otherwise download ``url`` (default: the GroupLens address in :data:`MOVIELENS`) into a
       temporary file inside the home and verify its size, sha256 and md5 against ``expected``
       (default: the official values in :data:`MOVIELENS`; a mapping with any of the keys
       ``sha256``, ``md5``, ``size`` replaces them, and keys left out are not checked;
       ``checksum=False`` skips the check). A mismatch or a truncated download raises
       :class:`~invlearn.errors.InvlearnError`; a failed download's message names the archive
       to place in the data home by hand. The verified archive is kept as
       ``<home>/<name>.zip``, readable by all (mode 0644). The ``.part`` files of killed
       downloads are removed first.

    Extraction is atomic (a temporary folder inside the home, then renamed): on any failure no
    partial file or folder is left behind.
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
    created = _make_home(home)
    try:
        _fetch_into(home, name, url, expected, checksum, archive)
    except BaseException:
        _remove_empty(created)  # a failed fetch leaves no new folders behind
        raise
    return folder


def _fetch_into(home: pathlib.Path, name: str, url: str, expected: Mapping[str, Any],
                checksum: bool, archive: pathlib.Path) -> None:
    """Download ``url`` into the existing ``home``, verify it, extract it and keep the
    archive as ``archive`` (:func:`fetch_movielens`, step 3)."""
    _remove_stale_parts(home, name)
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{name}-{os.getpid()}-", suffix=".zip.part",
                                        dir=home)
    except OSError as err:
        raise _home_error(f"write to the data home {home} to download {url}", err) from err
    os.close(fd)
    tmp = pathlib.Path(tmp_name)
    try:
        try:
            got = _download(url, tmp, expected.get("size"))
        except InvlearnError as err:
            raise InvlearnError(f"{err}. Without a network, place the archive {archive.name} "
                                f"in the data home {home}, as {archive} (the data home is "
                                f"INVLEARN_DATA or data_home=)") from err
        if checksum:
            _verify(got, expected, url)
        _extract(tmp, name, home, source=url)
        os.chmod(tmp, ARCHIVE_MODE)
        os.replace(tmp, archive)
    finally:
        tmp.unlink(missing_ok=True)


# -- Reading and checking ratings files --------------------------------------------------------
#: The separators a file may use, in the order they are guessed.
SEPARATORS = ("\t", "::", ",", ";", "|", " ")


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
    return next((line.rstrip(b"\r\n") for line in io.BytesIO(data) if line.strip()), None)


def _quote_line(line: bytes) -> str:
    text = line.decode("latin-1")
    return repr(text if len(text) <= 60 else text[:57] + "...")


def _row_error(data: bytes, sep: bytes, row: int, source: str, what: str) -> InvlearnError:
    number, line = _lines(data, sep)[row]
    return InvlearnError(f"{source}, line {number}: {what} (line {_quote_line(line)})")


def _read_table(data: bytes, sep: bytes, names: Sequence[str], **options: Any) -> pd.DataFrame:
    """pandas' C parser on the bytes of a ratings file: latin-1, no quoting, and only empty
    fields are missing (``nan`` or ``NA`` stay text, to be reported as what they are)."""
    return pd.read_csv(io.BytesIO(data), sep=sep.decode(), header=None, names=list(names),
                       index_col=False, quoting=csv.QUOTE_NONE, engine="c", encoding="latin-1",
                       keep_default_na=False, na_values=[""], **options)


_INT64_MAX = 2**63 - 1


def _first_bad_integer(text: pd.Series) -> tuple[int, str]:
    """The first row of ``text`` that is not an integer that fits int64, and what is wrong."""
    stripped = text.str.strip()
    integer = stripped.str.fullmatch(r"[+-]?\d+").to_numpy(dtype=bool, na_value=False)
    digits = stripped.str.lstrip("+-").str.lstrip("0").str.len().to_numpy()
    too_big = integer & (digits > 19)  # int64 has 19 digits; int() of 4,300 digits would fail
    for row in np.flatnonzero(integer & (digits == 19)):
        too_big[row] = abs(int(stripped.iloc[row])) > _INT64_MAX
    row = int(np.argmax(~integer | too_big))
    if too_big[row]:
        return row, (f"{stripped.iloc[row]} is too large: it must fit a signed 64-bit integer "
                     f"(at most {_INT64_MAX})")
    word = str(stripped.iloc[row]).lower()
    not_words = ("nan", "na", "inf", "null", "none")
    header = row == 0 and word.replace("_", "").isalpha() and word not in not_words
    hint = " (a header line? the file must have none)" if header else ""
    return row, f"{text.iloc[row]!r} is not an integer{hint}"


def _check_encoding(data: bytes, source: str) -> None:
    """Raise :class:`~invlearn.errors.InvlearnError` for a UTF-16 / UTF-32 file (a byte-order
    mark, or a NUL among the first two bytes) or a UTF-8 byte-order mark: ratings files are
    plain ASCII text."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in data[:2]:
        raise InvlearnError(f"{source} is not plain text: it looks UTF-16 or UTF-32 encoded "
                            f"(a byte-order mark or NUL bytes); save it as ASCII or UTF-8")
    if data.startswith(b"\xef\xbb\xbf"):
        raise InvlearnError(f"{source} starts with a UTF-8 byte-order mark; save it without one")


def rating_values(values: pd.Series, rating_range: tuple[float, float] | None,
                  bad: Any) -> np.ndarray:
    """``values`` as float64 ratings; ``bad(row, what)`` makes the error for the first one that
    is not a finite number or lies outside ``rating_range`` (``None``: any number)."""
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
    return rating


def _parse_ratings(data: bytes, source: str, sep: str, names: Sequence[str],
                   rating_range: tuple[float, float] | None, min_fields: int) -> pd.DataFrame:
    """Parse and check the bytes of a ratings file; ``source`` names it in every message."""
    names = tuple(names)
    if not sep:
        raise InvlearnError("sep must be a non-empty string")
    _check_encoding(data, source)
    first = _first_line(data)  # the first non-blank line tells the number of fields
    if first is None:
        raise InvlearnError(f"{source} is empty; expected lines of {' '.join(names)}")
    bsep = sep.encode()
    n = len(first.split(bsep))
    if n == 1 and min_fields > 1:
        text = first.decode("latin-1")
        guess = [s for s in SEPARATORS if s != sep and min_fields <= len(text.split(s))]
        hint = f" The file looks separated by {guess[0]!r}." if guess else ""
        raise InvlearnError(f"{source}: line 1 has a single field with separator {sep!r}, "
                            f"expected {min_fields} ({' '.join(names[:min_fields])}); wrong "
                            f"separator?{hint}")
    if not min_fields <= n <= len(names):
        want = str(len(names)) if min_fields == len(names) else f"{min_fields} to {len(names)}"
        raise InvlearnError(f"{source}: line 1 has {n} fields, expected {want} ({' '.join(names)}) "
                            f"separated by {sep!r}")
    names, raw = names[:n], data

    def bad(row: int, what: str) -> InvlearnError:
        return _row_error(raw, sep.encode(), row, source, what)

    if len(bsep) > 1:  # the C parser wants one character; "::" files are the slow path otherwise
        data = data.replace(bsep, b"\x1f")
        bsep = b"\x1f"
    try:
        table = _read_table(data, bsep, names)
    except (pd.errors.ParserError, ValueError, UnicodeDecodeError) as err:
        for number, line in _lines(data, bsep):
            if len(line.split(bsep)) != n:
                raise InvlearnError(f"{source}, line {number}: {len(line.split(bsep))} "
                                    f"fields, expected {n} like line 1 ({' '.join(names)})") \
                    from err
        raise InvlearnError(f"{source}: cannot parse as {' '.join(names)}: {err}") from err
    missing = table.isna().to_numpy().any(axis=1)
    if missing.any():
        row = int(np.argmax(missing))
        raise bad(row, f"missing or empty field(s), expected {n} ({' '.join(names)}) "
                       f"separated by {sep!r}")
    for col in names:
        values = table[col]
        if col == "rating":
            table[col] = rating_values(values, rating_range, bad).astype(np.float32)
            continue
        kind = "id" if col in ("user", "item") else "value"
        if values.dtype.kind != "i":  # slow path, errors only: read the text again
            text = _read_table(data, bsep, names, usecols=[col], dtype=str)[col]
            row, what = _first_bad_integer(text)
            raise bad(row, f"{col} {kind} {what}")
        if (values < 0).any():
            row = int(np.argmax((values < 0).to_numpy()))
            raise bad(row, f"{col} {kind} {values.iloc[row]} is negative")
        table[col] = values.astype(np.int64)
    return table


def read_ratings(path: str | os.PathLike, sep: str = "\t", names: Sequence[str] = RATING_COLUMNS,
                 rating_range: tuple[float, float] | None = (1, 5),
                 min_fields: int | None = None) -> pd.DataFrame:
    """Read a headerless ratings file ``user item rating [timestamp]`` and check it.

    Every line has ``len(names)`` fields, or as many as line 1 between ``min_fields`` and
    ``len(names)`` when ``min_fields`` is given. ``user``, ``item`` and ``timestamp`` must be
    non-negative integers (int64); ``rating`` a number inside ``rating_range`` (``None``: any
    number), stored as float32. A multi-character ``sep`` such as MovieLens-1M's ``::`` is
    rewritten first, for pandas' fast C parser. Any problem raises
    :class:`~invlearn.errors.InvlearnError` naming the file and, where there is one, the line.
    """
    path = pathlib.Path(path)
    if path.exists() and not path.is_file():  # a FIFO would block the read forever
        what = "a folder" if path.is_dir() else "not a regular file (a FIFO, device or socket)"
        raise InvlearnError(f"ratings file {path} is {what}")
    try:
        data = path.read_bytes()
    except FileNotFoundError as err:
        raise InvlearnError(f"ratings file {path} does not exist") from err
    except OSError as err:
        raise InvlearnError(f"cannot read ratings file {path}: {err}") from err
    return _parse_ratings(data, str(path), sep, names, rating_range,
                          len(names) if min_fields is None else min_fields)


# -- MovieLens ratings and labels --------------------------------------------------------------
def contiguous_ids(*columns: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """Map original ids to 0-based contiguous ids, sorted by original id, over all columns."""
    ids = np.unique(np.concatenate(columns))
    return ids, [np.searchsorted(ids, col).astype(np.int64) for col in columns]


def load_movielens(name: str, data_home: str | os.PathLike | None = None) -> pd.DataFrame:
    """The ratings of a MovieLens data set as a tidy table.

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
        except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, zlib.error, OSError) as err:
            raise InvlearnError(f"{archive} is not a valid zip archive: {err}") from err
        table = _parse_ratings(data, source, entry["sep"], entry["columns"], (1, 5),
                               len(entry["columns"]))
    user_ids, (users,) = contiguous_ids(table["user"].to_numpy())
    item_ids, (items,) = contiguous_ids(table["item"].to_numpy())
    table["user"], table["item"] = users, items
    table.attrs["user_ids"], table.attrs["item_ids"] = user_ids, item_ids
    return table


def binarize(ratings: pd.DataFrame, threshold: float = 3) -> pd.DataFrame:
    """Add the float32 ``label`` column: 1 for ``rating >= threshold``, else 0.

    Book chapters 1 and 6; the paper's Section 5.1: with the default threshold 3,
    MovieLens-1M has 836,478 positive and 163,731 negative ratings. Returns a new table;
    ``ratings`` is not changed.
    """
    if "rating" not in ratings.columns:
        raise InvlearnError(f"ratings must have a 'rating' column, got {list(ratings.columns)}")
    if not isinstance(threshold, (int, float, np.number)) or not np.isfinite(threshold):
        raise InvlearnError(f"threshold must be a finite number, got {threshold!r}")
    table = ratings.copy()
    table["label"] = (table["rating"].to_numpy() >= threshold).astype(np.float32)
    return table

