"""Splits: the labeled train / validation / test data every method trains on.

Book chapter 1 introduces the protocol (a seeded 60/20/20 split of the labeled rows, or an
explicit train / validation / test file triple, as in the paper's own MovieLens-1M split);
chapter 6 reproduces the paper on MovieLens, chapter 7 on the simulated feed, and chapter 8
thins the labels (:func:`label_fraction`) and picks an unlabeled pool (:func:`unlabeled_pool`).
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .errors import InvlearnError
from .movielens import binarize, read_ratings

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



def _contiguous(*columns: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """Map original ids to 0-based contiguous ids, sorted by original id, over all columns."""
    ids = np.unique(np.concatenate(columns))
    return ids, [np.searchsorted(ids, col).astype(np.int64) for col in columns]


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
    """A seeded random train / validation / test split of the rows (book chapters 1, 6 and 7).

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
    """A split from a train / validation / test file triple (book chapters 1, 6 and 7).

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


