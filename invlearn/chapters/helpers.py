"""Small helpers the book's chapters share, so that no chapter defines its own.

* :class:`RunCache` — train once per (method, seed, settings) and reuse the result (chapters
  2, 3, 5 and 9 compare the same runs in several tables);
* :func:`write_key_numbers` — the JSON of a chapter's key numbers that its tests read;
* :func:`meta_step_batch` — a labeled and an unlabeled batch for one IG meta-step by hand
  (chapter 5);
* :func:`first_meta_steps` — what the first meta-steps of an IG run kept, beside the labels of
  their training-test batches (chapter 5);
* :func:`format_columns` — a table whose named columns are text in given formats;
* :func:`movielens_available` — whether the data home holds MovieLens-1M, never downloading;
* :func:`data_or_committed`, :func:`dataset_available` and :func:`data_note` — a table computed
  from MovieLens when it is in the data home, else its committed copy, and the note that says
  which.
"""
from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from .. import ig
from ..data import MOVIELENS, PAPER_SPLIT_FOLDER, Split, data_home
from ..errors import InvlearnError
from ..io import write_csv_atomic
from ..methods import TrainResult, train
from ..sampling import pair_keys, sample_unlabeled


class RunCache:
    """``train(split, method=..., seed=..., **defaults, **settings)`` once per distinct call;
    later calls with the same method, seed and settings return the stored result.

    ``runs = RunCache(split, backbone="gmf", epochs=30)``; ``runs("ig", seed=0,
    alpha_ratio=1)``. ``runs.results`` maps ``(method, seed, settings)`` to the results. A
    ``model`` passed to a call (e.g. a recorder of negatives, chapter 2) is used for that call
    and is part of its key by identity.
    """

    def __init__(self, split: Split, **defaults: Any):
        self.split, self.defaults = split, {"progress": False, **defaults}
        self.results: dict[tuple, TrainResult] = {}

    def __call__(self, method: str, seed: int = 0, model: torch.nn.Module | None = None,
                 **settings: Any) -> TrainResult:
        key = (method, seed, tuple(sorted(settings.items())), id(model) if model else None)
        if key not in self.results:
            self.results[key] = train(self.split, method=method, seed=seed, model=model,
                                      **{**self.defaults, **settings})
        return self.results[key]


def write_key_numbers(path: str | os.PathLike, numbers: Mapping[str, Any]) -> dict:
    """Write a chapter's key numbers as JSON at ``path`` (folders created; NumPy scalars as
    plain numbers; a NaN, a number that does not exist, as ``null``, so the file is strict JSON)
    and return them rounded to 4 digits for display."""
    plain = {k: (v.item() if hasattr(v, "item") else v) for k, v in numbers.items()}
    plain = {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in plain.items()}
    folder = os.path.dirname(os.fspath(path))
    if folder:
        os.makedirs(folder, exist_ok=True)
    with open(path, "w") as f:
        json.dump(plain, f, indent=1, allow_nan=False)
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in plain.items()}


def meta_step_batch(split: Split, size: int, seed: int = 0) -> tuple[tuple, tuple]:
    """The two batches of one meta-step by hand (chapter 5): ``size`` validation rows as the
    labeled batch ``(users, items, labels)`` — held out from training, as training-test rows
    are — and as many unlabeled pairs ``(users, items)``, each a training user with an item
    that user has no training row with, as ``train`` draws them."""
    rng = np.random.default_rng(seed)
    rows = split.valid.sample(min(size, len(split.valid)), random_state=seed)
    labeled = tuple(torch.as_tensor(rows[c].to_numpy(copy=True)) for c in
                    ("user", "item", "label"))
    train_users = split.train["user"].to_numpy()
    keys = pair_keys(train_users, split.train["item"].to_numpy(), split.n_items)
    users = train_users[rng.integers(0, len(split.train), len(rows))]
    items = sample_unlabeled(users, split.n_items, keys, 1, rng)[:, 0]
    return labeled, (torch.as_tensor(users), torch.as_tensor(items))


class _Enough(Exception):
    """Stops a replayed run once :func:`first_meta_steps` has what it needs."""


def first_meta_steps(split: Split, n: int, seed: int = 0, **settings: Any) -> pd.DataFrame:
    """Replay the first ``n`` meta-steps of ``train(split, method="ig", seed=seed,
    **settings)`` (eager engine) and say, for each, what decided it (chapter 5).

    One row per meta-step: ``positive share``, the share of label 1 in its training-test batch;
    ``mean p``, the batch's mean predicted probability at θ; ``kept``, the direction kept; and
    ``mean Δlogit``, how much the kept move changed the batch's logits on average (before the γ
    step of line 21). To first order a move that shifts every logit by Δ changes the batch's
    BCE by Δ·(mean p − positive share), so a move that lowers the logits helps exactly when
    ``mean p`` exceeds the positive share. ``loss_direct``, ``loss_pass`` and ``loss_inverse``
    are the candidate losses, as ``history.meta`` records them, to check the replay against
    the run. The run stops after the ``n``-th meta-step.
    """
    original, rows = ig.ig_meta_step, []

    def recorded(model, unlabeled, labeled, alpha, rule="sign"):
        if len(rows) >= n:
            raise _Enough
        users, items, labels = labeled
        with torch.no_grad():
            before = model(users, items).double()
        step = original(model, unlabeled, labeled, alpha, rule)
        with torch.no_grad():
            change = model(users, items).double() - before
        loss = step.losses.tolist()
        rows.append({"positive share": float(labels.double().mean()),
                     "mean p": float(torch.sigmoid(before).mean()),
                     "kept": ig.DIRECTIONS[int(step.kept)], "mean Δlogit": float(change.mean()),
                     **{f"loss_{d}": v for d, v in zip(ig.DIRECTIONS, loss)}})
        return step

    ig.ig_meta_step = recorded
    try:
        train(split, method="ig", seed=seed, **{"progress": False, **settings})
    except _Enough:
        pass
    finally:
        ig.ig_meta_step = original
    return pd.DataFrame(rows, index=pd.RangeIndex(1, len(rows) + 1, name="meta-step"))


def format_columns(table: pd.DataFrame, formats: Mapping[str, str]) -> pd.DataFrame:
    """A copy of ``table`` whose named columns are text in the given ``str.format`` formats."""
    out = table.copy()
    for column, fmt in formats.items():
        out[column] = out[column].map(fmt.format)
    return out


def movielens_available(name: str = "ml-1m", home: str | os.PathLike | None = None) -> bool:
    """Whether the data home holds MovieLens (``ml-1m.zip`` or ``ml-1m/``); never downloads."""
    folder = data_home(home)
    return (folder / f"{name}.zip").is_file() or (folder / name).is_dir()


def data_or_committed(path: str | os.PathLike, compute: Callable[[], pd.DataFrame],
                      available: bool) -> pd.DataFrame | None:
    """A table that needs MovieLens: ``compute()`` when the data is ``available``, else the copy
    committed at ``path`` (a CSV whose first column is the index), else ``None``.

    With the data, the computed table is checked against the committed copy (an
    :class:`~invlearn.errors.InvlearnError` names the file when they differ beyond float
    rounding) and written there when there is none yet, so that a reader without the data sees
    the table the data gives. Never downloads.
    """
    path = Path(path)
    if not available:
        if not path.is_file():
            return None
        committed = pd.read_csv(path)
        return committed.set_index(committed.columns[0])
    table = compute()
    flat = table.reset_index()
    if not path.is_file():
        write_csv_atomic(path, flat)
        return table
    committed = pd.read_csv(path)
    try:
        pd.testing.assert_frame_equal(flat, committed, check_dtype=False, rtol=1e-9)
    except AssertionError as err:
        raise InvlearnError(f"the table computed from the data differs from {path}; delete "
                            f"that file and run the chapter again to rewrite it ({err})") from None
    return table


def dataset_available(name: str, home: str | os.PathLike | None = None) -> bool:
    """Whether ``load_dataset(name)`` can run without a download: always for the simulated
    feed and files, else whether the data home holds the MovieLens archive or the paper's
    split folder."""
    if name == "ml-1m-paper":
        return (data_home(home) / PAPER_SPLIT_FOLDER).is_dir()
    if name in MOVIELENS:
        return movielens_available(name, home)
    return True


def data_note(available: bool, name: str = "MovieLens-1M") -> str:
    """Markdown for the top of a chapter that needs ``name``: which data its tables come from
    and how to compute them yourself."""
    if available:
        return (f"*{name} was found in your data home: the tables that need it "
                "are computed here and checked against the committed copies.*")
    return (f"> **{name} is not in your data home** (`{data_home()}`), so the tables in this "
            "chapter that need it are read from the committed result files in `book/results/` "
            "and nothing is downloaded. To compute them yourself, put `ml-1m.zip` from "
            "GroupLens (and, for the paper's split, the folder `ml-1m-paper-split/`) in a "
            "folder, `export INVLEARN_DATA=/path/to/that/folder`, and run the chapter again.")
