"""Your own interactions in: files or tables with any ids, positive-only data, an unlabeled file.

The book's data sets come ready-made; this module turns an engineer's own feed into a
:class:`~invlearn.splits.Split`. :func:`read_interactions` reads one file (separator guessed,
header detected, ids of any kind, the label by :data:`LABEL_RULE`); :func:`own_split` splits one
table and :func:`files_split` three files, mapping the original ids to contiguous ones
(:func:`map_ids`; ``Split.user_ids`` / ``item_ids`` map back), with an optional ``unlabeled``
pool and, for positive-only data, sampled evaluation negatives.
"""
from __future__ import annotations

import csv
import os
import re
from collections.abc import Hashable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .errors import InvlearnError, check_int
from .movielens import SEPARATORS, rating_values
from .sampling import sorted_unique

#: How a label is made from a file or table; ``python -m invlearn train -h`` prints it.
LABEL_RULE = ("a column named 'label' (0/1) is the label; else the third column is a rating and "
              "label = rating >= --rating-threshold (default 3); a file of two columns (user, "
              "item) is positive-only: every row is a positive, and validation and test get "
              "sampled negatives (--eval-negatives)")

#: Header names understood for each column (case-insensitive); others are ignored.
HEADER_NAMES = {
    "user": ("user", "user_id", "userid", "uid", "users"),
    "item": ("item", "item_id", "itemid", "iid", "items", "movie_id", "movieid", "video_id"),
    "rating": ("rating", "ratings", "score", "stars"),
    "label": ("label", "labels", "y", "target"),
    "timestamp": ("timestamp", "time", "ts"),
}
_INTEGER = re.compile(r"-?(0|[1-9]\d{0,17})")  # no leading zeros: "007" stays text
#: The evaluation used for positive-only data, as said in ``Split.info["evaluation"]``.
SAMPLED_EVALUATION = ("positive-only data: each validation / test positive gets {n} sampled "
                      "negative(s), items drawn uniformly (seed {seed}) among those the user "
                      "has no interaction with; AUC, GAUC, NDCG@10 and MRR are computed on "
                      "them, Recall@K / NDCG@K rank all items")


# -- Reading one file --------------------------------------------------------------------------
def _guess_sep(line: str, source: str) -> str:
    for sep in SEPARATORS:
        if len(line.split(sep)) >= 2:
            return sep
    raise InvlearnError(f"{source}: line 1 {line[:60]!r} has a single field; expected user and "
                        f"item separated by a tab, comma, semicolon, '|', '::' or a space "
                        f"(or pass sep / --sep)")


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _looks_like_header(first: list[str], second: list[str] | None) -> bool:
    """A header names a known column, or has text where the next line has a number."""
    names = {n for names in HEADER_NAMES.values() for n in names}
    if any(f.strip().lower() in names for f in first):
        return True
    if second is None or len(first) < 3 or len(second) < 3:
        return False
    return not _is_number(first[2].strip()) and _is_number(second[2].strip())


def _header_columns(fields: list[str], source: str) -> dict[str, int]:
    """Column positions by name from a header; user and item default to the first two."""
    found: dict[str, int] = {}
    for position, name in enumerate(fields):
        for column, names in HEADER_NAMES.items():
            if name.strip().lower() in names and column not in found:
                found[column] = position
    taken = set(found.values())
    free = [p for p in range(len(fields)) if p not in taken]
    for column in ("user", "item"):
        if column not in found:
            if not free:
                raise InvlearnError(f"{source}: the header {fields!r} names no {column} column")
            found[column] = free.pop(0)
    if "rating" not in found and "label" not in found and free and len(fields) >= 3:
        found["rating"] = free.pop(0)
    return found


def _positional_columns(n: int, source: str) -> dict[str, int]:
    if not 2 <= n <= 4:
        raise InvlearnError(f"{source}: line 1 has {n} fields; without a header the columns "
                            f"are user item [rating [timestamp]] (2 to 4 fields)")
    return {c: p for p, c in enumerate(("user", "item", "rating", "timestamp")[:n])}


def _ids(values: pd.Series) -> np.ndarray:
    """Integer ids as int64 when every value is a plain integer (no sign, no leading zero), else
    the stripped text, so that ``007`` and ``7`` stay two ids."""
    text = values.str.strip()
    if text.str.fullmatch(_INTEGER).all():
        return text.astype(np.int64).to_numpy()
    return text.to_numpy(dtype=object)


def read_interactions(path: str | os.PathLike, sep: str | None = None,
                      header: bool | None = None, rating_threshold: float | None = None,
                      rating_range: tuple[float, float] | None = None) -> pd.DataFrame:
    """One interactions file as a table ``user``, ``item``, ``label`` (and ``rating``,
    ``timestamp`` when present), with the original ids (integers, or text such as ``u123``).

    ``sep``: the separator (default: guessed from line 1 among tab, ``::``, comma, semicolon,
    ``|`` and space). ``header``: whether line 1 names the columns (default: detected — it names a
    known column such as ``user``, ``item``, ``rating``, ``label``, or has text where line 2 has
    a number). Columns come by header name, else by position ``user item [rating [timestamp]]``.
    The label follows :data:`LABEL_RULE`: a ``label`` column must hold 0 or 1; a rating gives
    ``rating >= rating_threshold`` (default 3; ratings that are all 0 or 1 with no threshold
    given are an error, since 3 would make every row negative); two columns mean every row is a
    positive (``attrs["positive_only"]`` is then ``True``). ``rating_range`` optionally bounds
    the ratings. Any problem raises :class:`~invlearn.errors.InvlearnError` naming the file and
    the line.
    """
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        raise InvlearnError(f"interactions file {source} does not exist") from None
    except OSError as err:
        raise InvlearnError(f"cannot read interactions file {source}: {err.strerror}") from None
    lines = text.splitlines()
    if not any(line.strip() for line in lines):
        raise InvlearnError(f"{source} is empty; expected lines of user, item [, rating]")
    if sep is not None and not sep:
        raise InvlearnError("sep must be a non-empty string")
    sep = sep or _guess_sep(lines[0], source)
    first = lines[0].split(sep)
    second = lines[1].split(sep) if len(lines) > 1 else None
    if header is None:
        header = _looks_like_header(first, second)
    columns = _header_columns(first, source) if header else _positional_columns(len(first),
                                                                                source)
    try:
        raw = pd.read_csv(Path(path), sep=sep, header=None, skiprows=1 if header else 0,
                          dtype=str, keep_default_na=False, na_values=[""],
                          skip_blank_lines=False, engine="python" if len(sep) > 1 else "c",
                          encoding="utf-8", encoding_errors="replace",
                          quoting=csv.QUOTE_MINIMAL)
    except (pd.errors.ParserError, ValueError) as err:
        for number, line in enumerate(lines, start=1):
            if len(line.split(sep)) != len(first):
                raise InvlearnError(f"{source}, line {number}: {len(line.split(sep))} fields, "
                                    f"expected {len(first)} like line 1") from None
        raise InvlearnError(f"{source}: cannot parse: {err}") from None
    except pd.errors.EmptyDataError:
        raise InvlearnError(f"{source} has a header but no rows") from None
    offset = 2 if header else 1

    def bad(row: int, what: str) -> InvlearnError:
        line = lines[row + offset - 1] if row + offset - 1 < len(lines) else ""
        return InvlearnError(f"{source}, line {row + offset}: {what} (line {line[:60]!r})")

    used = raw.iloc[:, sorted(columns.values())]
    missing = used.isna().to_numpy().any(axis=1)
    if missing.any():
        raise bad(int(np.argmax(missing)), f"missing or empty field(s), expected "
                  f"{len(first)} separated by {sep!r}")
    table = pd.DataFrame({"user": _ids(raw[columns["user"]]),
                          "item": _ids(raw[columns["item"]])})
    if "timestamp" in columns:
        stamp = pd.to_numeric(raw[columns["timestamp"]], errors="coerce")
        if stamp.isna().any():
            row = int(np.argmax(stamp.isna().to_numpy()))
            raise bad(row, f"timestamp {raw[columns['timestamp']].iloc[row]!r} is not a number")
        table["timestamp"] = stamp.to_numpy()
    if "label" in columns:
        label = pd.to_numeric(raw[columns["label"]], errors="coerce").to_numpy(np.float64)
        wrong = ~np.isin(label, (0.0, 1.0))
        if wrong.any():
            row = int(np.argmax(wrong))
            raise bad(row, f"label {raw[columns['label']].iloc[row]!r} is not 0 or 1")
        table["label"] = label.astype(np.float32)
    elif "rating" in columns:
        rating = rating_values(raw[columns["rating"]], rating_range, bad)
        if rating_threshold is None and np.isin(rating, (0.0, 1.0)).all():
            raise InvlearnError(f"{source}: every rating is 0 or 1, which the default threshold "
                                f"3 would make all negative; name the column 'label' in a "
                                f"header, or pass rating_threshold=1 (--rating-threshold 1)")
        threshold = 3.0 if rating_threshold is None else float(rating_threshold)
        table["rating"] = rating.astype(np.float32)
        table["label"] = (rating >= threshold).astype(np.float32)
    else:
        table["label"] = np.ones(len(table), dtype=np.float32)
    table.attrs["positive_only"] = "label" not in columns and "rating" not in columns
    return table


def read_unlabeled(path: str | os.PathLike, sep: str | None = None,
                   header: bool | None = None) -> pd.DataFrame:
    """A file of unlabeled interactions: ``user`` and ``item`` (any further column is ignored),
    with the separator and header found as in :func:`read_interactions`."""
    table = read_interactions(path, sep=sep, header=header, rating_threshold=0)
    return table[["user", "item"]]


# -- Ids: any hashable ids in, contiguous ids inside, the maps kept ----------------------------
def id_map(*columns: Sequence[Hashable]) -> np.ndarray:
    """The distinct ids of ``columns``, sorted when they can be compared (else in order of first
    appearance): position ``k`` holds the original id of contiguous id ``k``."""
    values = np.concatenate([np.asarray(pd.Series(c, dtype=object).to_numpy(), dtype=object)
                             for c in columns]) if columns else np.array([], dtype=object)
    if pd.isna(pd.Series(values, dtype=object)).any():
        raise InvlearnError("ids must not be missing (NaN or None)")
    kinds = {type(v) for v in values}
    if kinds <= {int, np.int64, np.int32, np.uint64, np.int16, np.int8}:
        return sorted_unique(values.astype(np.int64))
    if kinds <= {str, np.str_}:
        return np.unique(values.astype(str)).astype(object)
    return pd.unique(pd.Series(values, dtype=object)).astype(object)


def map_ids(ids: np.ndarray | None, values: Any, what: str, count: int | None = None,
            strict: bool = True) -> np.ndarray:
    """Contiguous ids of the original ``values`` through the map ``ids`` (int64; -1 for unknown
    ids unless ``strict``, where an unknown id raises :class:`~invlearn.errors.InvlearnError`
    naming it). Without a map the values must already be ids in ``[0, count)``."""
    values = np.asarray(pd.Series(values, dtype=object).to_numpy(), dtype=object)
    if ids is None:
        try:
            out = values.astype(np.int64)
        except (TypeError, ValueError):
            raise InvlearnError(f"{what} ids must be integers: this split has no id map "
                                f"(got {values[0]!r})") from None
        out[(out < 0) | (out >= (count or 0))] = -1
    else:
        index = pd.Index(pd.Series(ids, dtype=object))
        probe = pd.Series(values, dtype=object)
        if isinstance(ids, np.ndarray) and ids.dtype.kind in "iu":
            numeric = pd.to_numeric(probe, errors="coerce")
            probe = numeric.astype("Int64") if not numeric.isna().any() else probe
            index = pd.Index(ids)
        out = index.get_indexer(probe.to_numpy()).astype(np.int64)
    if strict and (out < 0).any():
        first = values[int(np.argmax(out < 0))]
        raise InvlearnError(f"unknown {what} id {first!r} ({int((out < 0).sum())} unknown in "
                            f"all): the model knows only the {what}s of its training data")
    return out


# -- Splits of your own data -------------------------------------------------------------------
def _table(table: Any, what: str, need_label: bool) -> pd.DataFrame:
    if not isinstance(table, pd.DataFrame):
        raise InvlearnError(f"{what} must be a pandas DataFrame with columns user, item, got "
                            f"{type(table).__name__}")
    missing = [c for c in ("user", "item") if c not in table.columns]
    if missing:
        raise InvlearnError(f"{what} lacks column(s) {missing}; it needs user and item")
    if len(table) == 0:
        raise InvlearnError(f"{what} is empty")
    out = table.copy()
    out.attrs = dict(table.attrs)
    if need_label and "label" not in out.columns:
        if "rating" in out.columns:
            raise InvlearnError(f"{what} has a rating but no label column; add label = "
                                f"(rating >= threshold) or read it with read_interactions")
        out["label"] = np.float32(1)
        out.attrs["positive_only"] = True
    return out


def _mapped(parts: dict[str, pd.DataFrame], unlabeled: pd.DataFrame | None):
    if unlabeled is not None:
        parts = {**parts, "unlabeled": unlabeled}
    user_ids = id_map(*(t["user"] for t in parts.values()))
    item_ids = id_map(*(t["item"] for t in parts.values()))
    out = {}
    for name, t in parts.items():
        t = t.copy()
        t["user"] = map_ids(user_ids, t["user"], "user")
        t["item"] = map_ids(item_ids, t["item"], "item")
        if "label" in t.columns:
            t["label"] = t["label"].astype(np.float32)
        out[name] = t.reset_index(drop=True)
    return out, user_ids, item_ids


def _sampled_negatives(parts: dict[str, pd.DataFrame], n_users: int, n_items: int, n: int,
                       seed: int) -> dict[str, pd.DataFrame]:
    """``parts`` with ``n`` sampled negatives per positive added to ``valid`` and ``test``."""
    from .sampling import PairSet, sample_unlabeled

    check_int(n, "eval_negatives")
    rng = np.random.default_rng(seed)
    pools = [t for t in parts.values() if t is not None]
    users = np.concatenate([t["user"].to_numpy(np.int64) for t in pools])
    items = np.concatenate([t["item"].to_numpy(np.int64) for t in pools])
    out = dict(parts)
    for part in ("valid", "test"):
        table = parts[part]
        pos = table[table["label"] > 0.5]
        keys = PairSet(users, items, n_users, n_items)
        drawn = sample_unlabeled(pos["user"].to_numpy(), n_items, keys, int(n), rng)
        negatives = pd.DataFrame({"user": np.repeat(pos["user"].to_numpy(np.int64), n),
                                  "item": drawn.reshape(-1)}).drop_duplicates()
        negatives["label"] = np.float32(0)
        negatives["sampled"] = True
        users = np.concatenate([users, negatives["user"].to_numpy()])
        items = np.concatenate([items, negatives["item"].to_numpy()])
        out[part] = pd.concat([table.assign(sampled=False), negatives], ignore_index=True)
    return out


def _finish(parts: dict[str, pd.DataFrame], user_ids: np.ndarray, item_ids: np.ndarray,
            name: str, info: dict, positive_only: bool, eval_negatives: int, seed: int):
    """Build the split; positive-only data first gets its sampled evaluation negatives (the
    Split's check wants two classes in validation and test)."""
    from .splits import Split

    if positive_only:
        parts = _sampled_negatives(parts, len(user_ids), len(item_ids), eval_negatives, seed)
        info = {**info, "evaluation": SAMPLED_EVALUATION.format(n=eval_negatives, seed=seed),
                "eval_negatives": int(eval_negatives)}
    return Split(parts["train"], parts["valid"], parts["test"], n_users=len(user_ids),
                 n_items=len(item_ids), name=name, user_ids=user_ids, item_ids=item_ids,
                 info=info, unlabeled=parts.get("unlabeled"))


def own_split(table: pd.DataFrame, fractions: Sequence[float] = (0.6, 0.2, 0.2), seed: int = 0,
              unlabeled: pd.DataFrame | None = None, name: str = "data",
              eval_negatives: int = 1):
    """A seeded train / validation / test split of your own interactions (any ids).

    ``table`` has columns ``user`` and ``item`` (any hashable ids) and ``label`` (0/1); without
    ``label`` it is positive-only (every row a positive). The rows are shuffled with ``seed`` and
    cut by ``fractions`` as :func:`~invlearn.splits.random_split` does. The ids of ``table`` and
    ``unlabeled`` are mapped to contiguous ids, sorted by original id where they compare
    (``Split.user_ids`` / ``item_ids`` map back). ``unlabeled`` (``user``, ``item``) becomes the
    split's ``unlabeled`` pool, from which ``train(..., pool="unlabeled")`` draws. When every
    label is 1, validation and test get ``eval_negatives`` sampled negatives per positive: items
    drawn uniformly with ``seed`` among those the user has no interaction with, ``label`` 0 and
    ``sampled`` True (``recommend`` does not count them as seen).
    """
    table = _table(table, "table", need_label=True)
    pool = None if unlabeled is None else _table(unlabeled, "unlabeled", False)[["user", "item"]]
    positive_only = bool((table["label"] == 1).all())
    mapped, user_ids, item_ids = _mapped({"all": table}, pool)
    from .splits import check_fractions, cut_rows

    parts = cut_rows(mapped["all"], check_fractions(fractions), seed, name, fractions)
    if pool is not None:
        parts["unlabeled"] = mapped["unlabeled"][["user", "item"]]
    info = {"seed": seed, "fractions": tuple(float(f) for f in fractions)}
    return _finish(parts, user_ids, item_ids, name, info, positive_only, eval_negatives, seed)


def files_split(train: str | os.PathLike, valid: str | os.PathLike, test: str | os.PathLike,
                sep: str | None = None, header: bool | None = None,
                rating_threshold: float | None = None,
                rating_range: tuple[float, float] | None = None,
                unlabeled: str | os.PathLike | pd.DataFrame | None = None, name: str = "files",
                eval_negatives: int = 1, seed: int = 0):
    """A split from a train / validation / test file triple, each read by
    :func:`read_interactions` (any separator, header, ids and label rule), with ids mapped over
    the three files and the ``unlabeled`` pool (a path or a table). Positive-only files get
    sampled evaluation negatives (as :func:`own_split`, with ``seed``)."""
    paths = {"train": train, "valid": valid, "test": test}
    parts = {part: read_interactions(path, sep=sep, header=header,
                                     rating_threshold=rating_threshold,
                                     rating_range=rating_range)
             for part, path in paths.items()}
    pool = unlabeled
    if isinstance(unlabeled, (str, os.PathLike)):
        pool = read_unlabeled(unlabeled, sep=sep)
    elif unlabeled is not None:
        pool = _table(unlabeled, "unlabeled", False)[["user", "item"]]
    positive_only = all(t.attrs.get("positive_only") for t in parts.values())
    if not positive_only:  # name the file; the split's own check cannot
        from .splits import check_evaluation_files

        check_evaluation_files(parts, paths)
    mapped, user_ids, item_ids = _mapped(parts, pool)
    info = {"files": {part: str(path) for part, path in paths.items()}}
    return _finish(mapped, user_ids, item_ids, name, info, positive_only, eval_negatives, seed)


def data_split(data: str | os.PathLike, fractions: Sequence[float] = (0.6, 0.2, 0.2),
               seed: int = 0, sep: str | None = None, header: bool | None = None,
               rating_threshold: float | None = None,
               unlabeled: str | os.PathLike | pd.DataFrame | None = None,
               name: str | None = None, eval_negatives: int = 1):
    """:func:`own_split` of the file ``data`` (read by :func:`read_interactions`), with the
    unlabeled interactions of a file or table; the split's name is the file's stem."""
    table = read_interactions(data, sep=sep, header=header, rating_threshold=rating_threshold)
    if table.attrs.get("positive_only"):
        table = table.drop(columns="label")
    if isinstance(unlabeled, (str, os.PathLike)):
        unlabeled = read_unlabeled(unlabeled, sep=sep)
    split = own_split(table, fractions, seed=seed, unlabeled=unlabeled,
                      name=name or Path(data).stem, eval_negatives=eval_negatives)
    split.info["files"] = {"data": str(data)}
    return split


def with_unlabeled(data: Any, unlabeled: Any) -> Any:
    """``data`` with its ``unlabeled`` pool set to the table ``unlabeled`` (``user``, ``item``
    with the split's original ids, mapped through ``user_ids`` / ``item_ids``; integer ids in
    range when the split has no maps). Pairs whose user or item the split does not know are
    left out with an :class:`~invlearn.errors.InvlearnWarning` that counts them: the model has
    no embedding for them (give them to :func:`own_split` / :func:`data_split` to keep them)."""
    import dataclasses
    import warnings

    from .errors import InvlearnWarning

    if isinstance(unlabeled, (str, os.PathLike)):
        unlabeled = read_unlabeled(unlabeled)
    table = _table(unlabeled, "unlabeled", False)
    users = map_ids(data.user_ids, table["user"], "user", data.n_users, strict=False)
    items = map_ids(data.item_ids, table["item"], "item", data.n_items, strict=False)
    known = (users >= 0) & (items >= 0)
    if not known.any():
        raise InvlearnError(f"unlabeled: none of its {len(table)} pairs has a user and an item "
                            f"of the data {data.name!r}; are the ids the same kind (text vs "
                            f"numbers)?")
    if not known.all():
        warnings.warn(f"unlabeled: {int((~known).sum())} of {len(table)} pairs have a user or "
                      f"item the data {data.name!r} does not have; they are left out (pass them "
                      f"to own_split(..., unlabeled=...) to keep them)", InvlearnWarning,
                      stacklevel=3)
    pool = pd.DataFrame({"user": users[known], "item": items[known]})
    return dataclasses.replace(data, unlabeled=pool)


def parse_fractions(value: Any, option: str = "split") -> tuple[float, float, float]:
    """Three fractions (train, valid, test) from ``"0.6,0.2,0.2"`` or a sequence, checked: three
    positive numbers that sum to 1."""
    from .splits import check_fractions

    if isinstance(value, str):
        value = [v for v in value.replace(" ", "").split(",") if v]
    try:
        return check_fractions(value)
    except InvlearnError as err:
        raise InvlearnError(f"{option}: {err}") from None
