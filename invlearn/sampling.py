"""Sampling unlabeled pairs: uniform items that are not training pairs (book chapter 1)."""
from __future__ import annotations

import numpy as np
import torch

from .errors import InvlearnError

MAX_ROUNDS = 200
#: Largest ``n_users · n_items`` for which :class:`PairSet` keeps a dense bitmap (128 MiB).
BITMAP_LIMIT = 1 << 27


def sorted_unique(values: np.ndarray) -> np.ndarray:
    """``np.unique(values)`` of a 1-D numeric array, by one sort: numpy 2.3+ finds the distinct
    values with a hash table first, which on a million int64 keys costs about 60 times the CPU
    time (1.9 s against 0.03 s on one core here)."""
    ordered = np.sort(np.asarray(values).ravel())
    if len(ordered) == 0:
        return ordered
    return ordered[np.concatenate(([True], ordered[1:] != ordered[:-1]))]


def pair_keys(users: np.ndarray, items: np.ndarray, n_items: int) -> np.ndarray:
    """Sorted unique int64 keys ``user · n_items + item`` of a set of pairs."""
    return sorted_unique(users.astype(np.int64) * n_items + items.astype(np.int64))


def is_pair(keys: np.ndarray, users: np.ndarray, items: np.ndarray, n_items: int) -> np.ndarray:
    """Whether each ``(users[j], items[j])`` is among the pairs whose sorted ``keys`` are given.

    Book chapters 1 and 9 (which pairs are training pairs, which impressions are labeled).
    """
    return in_sorted(keys, users.astype(np.int64) * n_items + items.astype(np.int64))


def in_sorted(keys: np.ndarray, query: np.ndarray) -> np.ndarray:
    """``np.isin(query, keys)`` for sorted ``keys``, by binary search (``np.isin`` calls the
    slow ``np.unique`` that :func:`sorted_unique` avoids)."""
    if len(keys) == 0:
        return np.zeros(len(query), dtype=bool)
    pos = np.minimum(np.searchsorted(keys, query), len(keys) - 1)
    return keys[pos] == query


class PairSet:
    """A set of (user, item) pairs with fast membership: a dense bitmap when
    ``n_users · n_items`` is at most ``bitmap_limit`` (default :data:`BITMAP_LIMIT`: MovieLens,
    the simulated feeds up to ``mid``), else the sorted keys of :func:`pair_keys` and a binary
    search. Held as numpy arrays, or with ``device`` as torch tensors there, queried with tensors
    and fixed shapes only (the static engine's :class:`invlearn.static.DeviceSampler`)."""

    def __init__(self, users: np.ndarray, items: np.ndarray, n_users: int, n_items: int,
                 device: torch.device | None = None, bitmap_limit: int | None = None):
        users, items = np.asarray(users, np.int64), np.asarray(items, np.int64)
        self.n_items = n_items
        self.bitmap = self.keys = None
        limit = BITMAP_LIMIT if bitmap_limit is None else bitmap_limit
        if n_users * n_items <= limit:
            bitmap = np.zeros(n_users * n_items, dtype=bool)
            bitmap[users * n_items + items] = True
            self.bitmap = bitmap if device is None else torch.as_tensor(bitmap, device=device)
        else:
            keys = pair_keys(users, items, n_items)
            self.keys = keys if device is None else torch.as_tensor(keys, device=device)

    def contains(self, users: np.ndarray | torch.Tensor,
                 items: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
        """Whether each ``(users[j], items[j])`` is in the set (arrays, or tensors on the set's
        device: then without a host sync)."""
        if isinstance(self.keys, np.ndarray):
            return is_pair(self.keys, users, items, self.n_items)
        if isinstance(users, torch.Tensor):
            query = users * self.n_items + items
        else:
            query = np.asarray(users, np.int64) * self.n_items + items
        if self.bitmap is not None:
            return self.bitmap[query]
        pos = torch.searchsorted(self.keys, query).clamp(max=len(self.keys) - 1)
        return self.keys[pos] == query


def sample_unlabeled(users: np.ndarray, n_items: int, keys: np.ndarray | PairSet, rate: int,
                     rng: np.random.Generator) -> np.ndarray:
    """For every row's user, ``rate`` items drawn uniformly among the items that user has no
    training pair with (``keys`` from :func:`pair_keys`, or a :class:`PairSet`, which gives the
    same draws faster): the "random" unlabeled pool of book
    chapters 1 and 9, redrawn by the trainer every epoch. Returns an int64 array
    ``[len(users), rate]``. Vectorized rejection: all rows are drawn at once, and only the rows
    that hit a training pair are redrawn, for as many rounds as needed.
    """
    if rate < 1:
        raise InvlearnError(f"sampling rate must be a positive integer, got {rate}")
    if isinstance(keys, PairSet):
        member = keys.contains
    else:
        def member(u: np.ndarray, i: np.ndarray) -> np.ndarray:
            return is_pair(keys, u, i, n_items)
    flat_users = np.repeat(np.asarray(users, dtype=np.int64), rate)
    items = rng.integers(0, n_items, size=len(flat_users), dtype=np.int64)
    todo = np.flatnonzero(member(flat_users, items))
    for _ in range(MAX_ROUNDS):
        if len(todo) == 0:
            return items.reshape(-1, rate)
        items[todo] = rng.integers(0, n_items, size=len(todo), dtype=np.int64)
        todo = todo[member(flat_users[todo], items[todo])]
    bad = np.unique(flat_users[todo])[:5]
    raise InvlearnError(f"could not sample unlabeled items for users {bad.tolist()}: they have "
                        f"training pairs with (nearly) every one of the {n_items} items")
