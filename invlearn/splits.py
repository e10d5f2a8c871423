"""Splits: the labeled train / validation / test data every method trains on.

Book chapter 1 introduces the protocol (a seeded 60/20/20 split of the labeled rows, or an
explicit train / validation / test file triple, as in the paper's own MovieLens-1M split);
chapter 6 reproduces the paper on MovieLens, chapter 8 on the simulated feed, and chapter 9
thins the labels (:func:`label_fraction`) and picks an unlabeled pool (:func:`unlabeled_pool`).
"""
from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .config import MAX_SEED, POOLS
from .errors import InvlearnError, check_int, check_number, warn
from .movielens import binarize, contiguous_ids, read_ratings
from .sampling import in_sorted, sorted_unique

COLUMNS = ("user", "item", "label")
"""The columns every part of a :class:`Split` has."""


PARTS = ("train", "valid", "test")
#: The most users or items a split may declare, 2**31 - 1, int32's largest value.
MAX_IDS = 2**31 - 1


def _need_split(split: Any, what: str) -> None:
    """Raise :class:`~invlearn.errors.InvlearnError` unless ``split`` is a :class:`Split`."""
    if not isinstance(split, Split):
        raise InvlearnError(f"{what} needs an invlearn Split, got {type(split).__name__}")


@dataclass
class Split:
    """A labeled train / validation / test split with contiguous integer ids.

    Each table has integer columns ``user`` and ``item`` (0-based, ``< n_users`` /
    ``< n_items``) and a column ``label`` in {0, 1} (float32 when made by the package); extra
    columns (``rating``, ``timestamp``) may follow. ``truth`` is an object with
    ``true_label(users, items) -> np.ndarray`` when the true label of every pair is known (the
    simulated feed), else ``None``. ``user_ids`` / ``item_ids`` map the contiguous ids back to
    the original ones.

    Two optional unlabeled pools serve chapter 9: ``hidden`` holds the training rows whose
    labels :func:`label_fraction` withheld (``user``, ``item`` and their true ``label``), and
    ``ambiguous`` the simulated feed's impressions that its labelling rule leaves unlabeled
    (``user``, ``item``, ``finish`` and the true ``label``). Both are ``None`` when absent.
    ``unlabeled`` holds your own unlabeled interactions (``user``, ``item``; no label), the pool
    ``"unlabeled"`` (:mod:`invlearn.owndata`).

    Construction checks the tables (:func:`check_split`): what would silently mislead raises
    :class:`~invlearn.errors.InvlearnError`, what a user may mean gives an
    :class:`~invlearn.errors.InvlearnWarning` with counts.
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
    hidden: pd.DataFrame | None = None
    ambiguous: pd.DataFrame | None = None
    unlabeled: pd.DataFrame | None = None

    def __post_init__(self) -> None:
        check_split(self)

    def summary(self) -> pd.DataFrame:
        """Rows, positives and negatives of each part, as a small table."""
        rows = []
        for part in PARTS:
            y = getattr(self, part)["label"].to_numpy()
            rows.append({"split": part, "rows": len(y), "positive": int((y == 1).sum()),
                         "negative": int((y == 0).sum())})
        return pd.DataFrame(rows).set_index("split")


# -- Checks: errors for what silently misleads, counted warnings for what a user may mean ------
def check_split(split: Split) -> None:
    """Check a split's tables; raise :class:`~invlearn.errors.InvlearnError` or warn.

    Errors: a part that is not a table, lacks ``user``, ``item`` or ``label`` or is empty; ids
    that are not integers in ``[0, n_users)`` / ``[0, n_items)``; a label outside {0, 1}; a
    (user, item) pair twice in one part with different labels; a validation part identical to
    the test part, or a test part identical to train (the same rows); a validation or test part
    with a single class (its AUC is undefined). Warnings (with counts): a pair repeated with the
    same label within a part (it weighs double), a pair in two parts, and validation or test
    users or items never seen in training. The optional ``hidden`` and ``ambiguous`` pools must
    have their columns.
    """
    name = split.name
    for what, value in (("n_users", split.n_users), ("n_items", split.n_items)):
        check_int(value, f"{name}: {what}")
        if value > MAX_IDS:
            raise InvlearnError(f"{name}: {what} must be at most {MAX_IDS} (an embedding table "
                                f"that long does not fit in memory), got {value!r}")
    keys = {}
    for part in PARTS:
        table = getattr(split, part)
        _check_table(name, part, table, split.n_users, split.n_items)
        keys[part] = _pair_keys(table, split.n_items)
        _check_duplicates(name, part, keys[part], table["label"].to_numpy())
    for part in ("valid", "test"):
        labels = getattr(split, part)["label"].to_numpy()
        if len(np.unique(labels)) < 2:
            raise InvlearnError(f"{name}: the {part} part has a single class (every label is "
                                f"{labels[0]:g}), so its AUC is undefined; it needs positive "
                                f"and negative rows")
    for first, second in (("valid", "test"), ("train", "test")):
        if _same_rows(getattr(split, first), getattr(split, second), split.n_items):
            raise InvlearnError(f"{name}: the {second} part holds the same rows as the {first} "
                                f"part; the {second} part must be data the model was not tuned "
                                f"or trained on")
    _warn_overlaps(name, keys)
    _warn_unseen(split)
    for pool, columns in (("hidden", COLUMNS), ("ambiguous", (*COLUMNS, "finish")),
                          ("unlabeled", ("user", "item"))):
        table = getattr(split, pool)
        if table is not None and not set(columns) <= set(getattr(table, "columns", ())):
            raise InvlearnError(f"{name}: the {pool} pool must be a table with columns "
                                f"{', '.join(columns)}")
    _check_pool_ids(split)


def _check_pool_ids(split: Split) -> None:
    """The unlabeled pool's ids must be contiguous ids of the split."""
    table = split.unlabeled
    if table is None:
        return
    for col, bound in (("user", split.n_users), ("item", split.n_items)):
        ids = table[col].to_numpy()
        if len(ids) and (ids.dtype.kind not in "iu" or ids.min() < 0 or ids.max() >= bound):
            raise InvlearnError(f"{split.name}: the unlabeled pool's {col} ids must be integers "
                                f"in [0, {bound}); map original ids with "
                                f"invlearn.owndata.own_split or train(..., unlabeled=table)")


def _check_table(name: str, part: str, table: Any, n_users: int, n_items: int) -> None:
    if not isinstance(table, pd.DataFrame):
        raise InvlearnError(f"{name}: the {part} part must be a pandas DataFrame, "
                            f"got {type(table).__name__}")
    missing = [c for c in COLUMNS if c not in table.columns]
    if missing:
        raise InvlearnError(f"{name}: the {part} table lacks column(s) {missing}")
    if len(table) == 0:
        raise InvlearnError(f"{name}: the {part} split is empty; every split needs rows")
    for col, bound in (("user", n_users), ("item", n_items)):
        ids = table[col].to_numpy()
        if ids.dtype.kind not in "iu":
            raise InvlearnError(f"{name}: {part} {col} ids must be integers, got dtype "
                                f"{table[col].dtype} (first value {ids[0]!r})")
        if ids.min() < 0 or ids.max() >= bound:
            raise InvlearnError(f"{name}: {part} {col} ids must lie in [0, {bound}), "
                                f"found [{ids.min()}, {ids.max()}]")
    _check_labels(name, part, table["label"])


def _check_labels(name: str, part: str, label: pd.Series) -> None:
    values = pd.to_numeric(label, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    bad = ~np.isin(values, (0.0, 1.0))
    if label.dtype == object:  # text such as "1" is not a label
        bad |= label.map(lambda v: isinstance(v, (str, bytes))).to_numpy(dtype=bool)
    if bad.any():
        row = int(np.argmax(bad))
        value = label.iloc[row]
        shown = repr(value) if isinstance(value, (str, bytes)) else str(value)
        raise InvlearnError(f"{name}: {part} labels must be 0 or 1, found {shown} "
                            f"(row {row}; {int(bad.sum())} bad label(s) in all)")


def _pair_keys(table: pd.DataFrame, n_items: int) -> np.ndarray:
    return table["user"].to_numpy(np.int64) * n_items + table["item"].to_numpy(np.int64)


def _check_duplicates(name: str, part: str, keys: np.ndarray, labels: np.ndarray) -> None:
    order = np.argsort(keys, kind="stable")
    keys, labels = keys[order], labels[order]
    repeated = keys[1:] == keys[:-1]
    if not repeated.any():
        return
    conflicting = repeated & (labels[1:] != labels[:-1])
    if conflicting.any():
        raise InvlearnError(f"{name}: the {part} part has "
                            f"{int(np.unique(keys[1:][conflicting]).size)} (user, item) "
                            f"pair(s) with both labels 0 and 1; keep one row per pair")
    warn(f"{name}: the {part} part repeats {int(np.unique(keys[1:][repeated]).size)} (user, "
         f"item) pair(s) with the same label ({int(repeated.sum())} extra row(s)); they weigh "
         f"double")


def _same_rows(a: pd.DataFrame, b: pd.DataFrame, n_items: int) -> bool:
    if len(a) != len(b):
        return False
    rows = []
    for table in (a, b):
        keys, labels = _pair_keys(table, n_items), table["label"].to_numpy(np.float64)
        order = np.lexsort((labels, keys))
        rows.append((keys[order], labels[order]))
    return bool(np.array_equal(rows[0][0], rows[1][0]) and np.array_equal(rows[0][1], rows[1][1]))


def _warn_overlaps(name: str, keys: dict[str, np.ndarray]) -> None:
    for first, second in (("train", "valid"), ("train", "test"), ("valid", "test")):
        shared = in_sorted(sorted_unique(keys[first]), keys[second])
        if shared.any():
            warn(f"{name}: {int(shared.sum())} (user, item) pair(s) of the {second} part are "
                 f"also in the {first} part; scores on them are not held out")


def _warn_unseen(split: Split) -> None:
    """One warning with counts when valid or test rows have a user or item train never has."""
    found = []
    for part in ("valid", "test"):
        table = getattr(split, part)
        for col in ("user", "item"):
            ids = table[col].to_numpy()
            unseen = ~np.isin(ids, split.train[col].to_numpy())
            if unseen.any():
                found.append(f"{part} {np.unique(ids[unseen]).size} {col}s "
                             f"({int(unseen.sum())} rows)")
    if found:
        warn(f"{split.name}: never in train: {', '.join(found)}; the model scores "
             "them from their initial embeddings")


def check_fractions(fractions: Any) -> tuple[float, float, float]:
    """Train, validation and test fractions: three positive numbers that sum to 1."""
    try:
        values = tuple(float(f) for f in fractions)
    except (TypeError, ValueError):
        values = ()
    if len(values) != 3:
        raise InvlearnError(f"fractions must be three numbers (train, valid, test), got "
                            f"{fractions!r}")
    if not all(np.isfinite(v) and v > 0 for v in values):
        raise InvlearnError(f"fractions must all be positive, got {fractions!r}")
    if abs(sum(values) - 1) > 1e-6:
        raise InvlearnError(f"fractions must sum to 1, got {fractions!r} (sum {sum(values):g})")
    train, valid, test = values
    return train, valid, test


def _id_count(table: pd.DataFrame, col: str, given: int | None, ids: Any) -> int:
    if given is not None:
        return check_int(given, f"n_{col}s")
    if ids is not None:
        return len(ids)
    return int(table[col].max()) + 1


def cut_rows(table: pd.DataFrame, values: Sequence[float], seed: int, name: str,
             given: Any = None) -> dict[str, pd.DataFrame]:
    """The rows of ``table`` shuffled with ``seed`` and cut by the checked fractions ``values``
    into ``train``, ``valid`` and ``test`` (each in the original row order, no attrs);
    ``given`` is how the fractions were given, for the message when a part would be empty."""
    n = len(table)
    n_train, n_valid = round(values[0] * n), round(values[1] * n)
    sizes = {"train": n_train, "valid": n_valid, "test": n - n_train - n_valid}
    empty = [part for part, size in sizes.items() if size <= 0]
    if empty:
        raise InvlearnError(f"{name}: fractions={tuple(values if given is None else given)!r} "
                            f"of {n} rows leave the {empty[0]} split empty")
    order = np.random.default_rng(seed).permutation(n)
    out = {}
    for part, rows in zip(sizes, np.split(order, [n_train, n_train + n_valid])):
        out[part] = table.iloc[np.sort(rows)].reset_index(drop=True)
        out[part].attrs = {}
    return out


def random_split(table: pd.DataFrame, fractions: Sequence[float] = (0.6, 0.2, 0.2),
                 seed: int = 0, name: str = "data", n_users: int | None = None,
                 n_items: int | None = None) -> Split:
    """A seeded random train / validation / test split of the rows.

    The rows are shuffled with ``numpy.random.default_rng(seed).permutation``; the first
    ``round(fractions[0] * n)`` go to train, the next ``round(fractions[1] * n)`` to validation,
    the rest to test; each part keeps the original row order. ``table`` needs ``user``, ``item``
    and ``label`` columns. ``n_users`` / ``n_items`` default to the length of
    ``table.attrs["user_ids"]`` / ``["item_ids"]`` when present, else the largest id + 1.
    """
    if not isinstance(table, pd.DataFrame):
        raise InvlearnError(f"random_split needs a pandas DataFrame with columns user, item and "
                            f"label, got {type(table).__name__}")
    values = check_fractions(fractions)
    seed = check_int(seed, "seed", 0, MAX_SEED)
    missing = [c for c in COLUMNS if c not in table.columns]
    if missing:
        raise InvlearnError(f"table lacks column(s) {missing}; binarize the ratings first")
    for col in ("user", "item"):
        if table[col].dtype.kind not in "iu":
            raise InvlearnError(f"{name}: {col} ids are not integers (first {table[col].iloc[0]!r}"
                                f"); invlearn.own_split(table, fractions, seed) maps ids of any "
                                f"kind and keeps the maps")
    parts = list(cut_rows(table, values, seed, name, fractions).values())
    user_ids, item_ids = table.attrs.get("user_ids"), table.attrs.get("item_ids")
    return Split(*parts, n_users=_id_count(table, "user", n_users, user_ids),
                 n_items=_id_count(table, "item", n_items, item_ids), name=name,
                 user_ids=user_ids, item_ids=item_ids, info={"seed": seed, "fractions": values})


def check_evaluation_files(parts: dict[str, pd.DataFrame], paths: dict[str, Any]) -> None:
    """Raise :class:`~invlearn.errors.InvlearnError` naming the file when the labeled
    ``valid`` or ``test`` part read from it holds a single class (its AUC is undefined)."""
    for part in ("valid", "test"):
        labels = parts[part]["label"].unique() if "label" in parts[part] else []
        if len(labels) == 1:
            raise InvlearnError(f"{paths[part]}: the {part} file has a single class (every "
                                f"label is {labels[0]:g}), so its AUC is undefined; it needs "
                                f"positive and negative rows")


def load_split_files(train: str | os.PathLike, valid: str | os.PathLike,
                     test: str | os.PathLike, sep: str = "\t", rating_threshold: float = 3,
                     name: str = "files",
                     rating_range: tuple[float, float] | None = (1, 5)) -> Split:
    """A split from a train / validation / test file triple.

    Each file is headerless ``user item rating`` or ``user item rating timestamp`` with original
    ids (checked by :func:`~invlearn.movielens.read_ratings`). The ids are mapped to contiguous
    0-based ids over the union of the three files, numbered in the order of the original ids;
    ``Split.user_ids`` / ``item_ids`` map them back. ``label`` is ``rating >= rating_threshold``.
    This reads the paper's own ML-1M split (``ml1m.train.rating``, ``ml1m.valid.rating`` and
    ``ml1m.test.negative``, which holds rated test pairs despite its name).
    """
    paths = {"train": train, "valid": valid, "test": test}
    tables = {part: read_ratings(path, sep=sep, rating_range=rating_range, min_fields=3)
              for part, path in paths.items()}
    user_ids, users = contiguous_ids(*(t["user"].to_numpy() for t in tables.values()))
    item_ids, items = contiguous_ids(*(t["item"].to_numpy() for t in tables.values()))
    parts = []
    for table, u, i in zip(tables.values(), users, items):
        table["user"], table["item"] = u, i
        parts.append(binarize(table, rating_threshold))
    check_evaluation_files(dict(zip(paths, parts)), paths)
    return Split(*parts, n_users=len(user_ids), n_items=len(item_ids), name=name,
                 user_ids=user_ids, item_ids=item_ids,
                 info={"files": {part: str(path) for part, path in paths.items()}})


# -- Label sparsity and unlabeled pools (chapter 9; the paper's "extremely sparse feedback") ---
def label_fraction(split: Split, fraction: float, seed: int = 0) -> Split:
    """Keep a seeded share ``fraction`` of the labeled training rows (book chapter 9).

    One permutation drawn from ``seed`` orders the training rows; the first
    ``ceil(fraction · n)`` of them (at least one) stay labeled, in their original order, so with
    one seed a smaller fraction keeps a subset of a larger one (1 % ⊂ 3 % ⊂ 10 %). The other
    rows move to ``hidden`` (``user``, ``item`` and their true ``label``), the pool of real but
    unlabeled interactions; validation and test are untouched. ``fraction=1`` keeps every row
    and leaves ``hidden`` empty. Rows already hidden by an earlier call stay hidden.
    """
    _need_split(split, "label_fraction")
    fraction = check_number(fraction, "fraction", 0, 1, open_low=True)
    seed = check_int(seed, "seed", 0, MAX_SEED)
    n = len(split.train)
    keep_count = max(1, math.ceil(round(fraction * n, 9)))
    order = np.random.default_rng(seed).permutation(n)
    kept = np.zeros(n, dtype=bool)
    kept[order[:keep_count]] = True
    train = split.train[kept].reset_index(drop=True)
    withheld = split.train.loc[~kept, list(COLUMNS)].reset_index(drop=True)
    if split.hidden is not None and len(split.hidden):
        withheld = pd.concat([split.hidden[list(COLUMNS)], withheld], ignore_index=True)
    info = {**split.info, "label_fraction": fraction, "label_seed": int(seed)}
    return dataclasses.replace(split, train=train, hidden=withheld, info=info)


def unlabeled_pool(split: Split, pool: str) -> pd.DataFrame | None:
    """The (user, item) rows of an unlabeled pool of :data:`~invlearn.config.POOLS` (book
    chapter 9).

    ``"hidden"``: the training rows whose labels :func:`label_fraction` withheld;
    ``"ambiguous"``: the simulated feed's impressions with a finish rate in [0.2, 0.8];
    ``"unlabeled"``: your own unlabeled interactions (:mod:`invlearn.owndata`).
    ``"random"`` returns ``None``: its pairs are drawn afresh every epoch by the trainer
    (:func:`invlearn.sampling.sample_unlabeled`). A pool the split lacks, or an empty one,
    raises :class:`~invlearn.errors.InvlearnError` that says why.
    """
    _need_split(split, "unlabeled_pool")
    if pool not in POOLS:
        raise InvlearnError(f"unknown unlabeled pool {pool!r}; choose one of {', '.join(POOLS)}")
    if pool == "random":
        return None
    table = getattr(split, pool)
    if table is None:
        why = {"hidden": "needs label_fraction(split, fraction) first: no training labels are "
                         "withheld",
               "ambiguous": "needs the simulated feed: MovieLens and file splits have no "
                            "ambiguous impressions",
               "unlabeled": "is empty: it needs your unlabeled interactions, train(..., "
                            "unlabeled=table) or --unlabeled PATH"}[pool]
        raise InvlearnError(f"pool {pool!r} {why}")
    if len(table) == 0:
        why = {"hidden": "is empty at fraction 1: every training label is kept",
               "ambiguous": "is empty: the feed has no impression with a finish rate in "
                            "[0.2, 0.8]",
               "unlabeled": "is empty"}[pool]
        raise InvlearnError(f"pool {pool!r} of {split.name} {why}")
    return table[["user", "item"]].reset_index(drop=True)
