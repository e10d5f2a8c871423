"""Scores that learn nothing (chapter 9): the yardsticks every learned method must beat.

* ``popularity`` — an item's count of the observed interactions a method may see: the kept
  labeled training rows, plus the pool's rows for the ``hidden`` and ``ambiguous`` pools (real
  interactions without a label); labels are not used.
* ``item_mean`` — an item's mean kept label shrunk toward the global mean kept label ``g``:
  ``(sum_i + k · g) / (n_i + k)`` over the item's ``n_i`` kept labeled rows. The prior strength
  ``k`` is chosen on validation AUC from :data:`PRIOR_STRENGTHS` (ties: the smaller ``k``).

Both score a pair by its item only. :func:`train_score` is what ``invlearn.train`` runs for
them: it fits nothing, wraps the per-item table in :class:`ItemScore` (a module mapping
``(users, items)`` to scores, with ``score_all`` for full ranking) and tests it with the same
code as every trained model, so its :class:`~invlearn.training.TrainResult` has the same metrics.
"""
from __future__ import annotations

import time

import numpy as np
import torch
from torch import nn

from .config import SCORES, TrainConfig
from .data import Split
from .errors import InvlearnError
from .splits import unlabeled_pool
from .training import History, TrainResult, evaluate, final_metrics, pick_device

#: The prior strengths ``k`` item_mean chooses among on validation AUC (chapter 9).
PRIOR_STRENGTHS = (1.0, 3.0, 10.0, 30.0, 100.0, 300.0, 1000.0)


class ItemScore(nn.Module):
    """A score per item, whoever the user: ``score(u, i) = table[i]``. Holds no
    parameters (``table`` is a buffer), so nothing trains it."""

    def __init__(self, table: torch.Tensor, n_users: int):
        super().__init__()
        self.n_users, self.n_items = n_users, len(table)
        self.register_buffer("table", torch.as_tensor(table, dtype=torch.float32))

    def forward(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        return self.table[items]

    def score_all(self, users: torch.Tensor) -> torch.Tensor:
        """Scores of ``users`` against every item, ``[len(users), n_items]``."""
        return self.table.repeat(len(users), 1)  # its own memory, like any score_all


def popularity(data: Split, pool: str = "random") -> np.ndarray:
    """Per item, its count of observed interactions a method may see: the kept
    labeled training rows, plus the rows of the ``hidden`` or ``ambiguous`` pool (a method
    drawing from the ``random`` pool sees no other interaction). Labels are not used."""
    parts = [data.train["item"].to_numpy()]
    rows = unlabeled_pool(data, pool)  # None for random pairs; a clear error when empty
    if rows is not None:
        parts.append(rows["item"].to_numpy())
    return np.bincount(np.concatenate(parts).astype(np.int64),
                       minlength=data.n_items).astype(np.float64)


def item_mean(data: Split, strength: float) -> np.ndarray:
    """Per item, its mean kept label shrunk toward the global mean kept label ``g``:
    ``(sum_i + k · g) / (n_i + k)`` with ``k = strength`` (chapter 9); items with no kept row
    get ``g``."""
    if not strength > 0:
        raise InvlearnError(f"item_mean's prior strength must be positive, got {strength!r}")
    items = data.train["item"].to_numpy().astype(np.int64)
    labels = data.train["label"].to_numpy(np.float64)
    if len(labels) == 0:
        raise InvlearnError("item_mean needs at least one kept labeled training row")
    g = labels.mean()
    sums = np.bincount(items, weights=labels, minlength=data.n_items)
    counts = np.bincount(items, minlength=data.n_items)
    return (sums + strength * g) / (counts + strength)


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p) - np.log1p(-p)


def train_score(data: Split, config: TrainConfig, model: nn.Module | None = None) -> TrainResult:
    """``invlearn.train`` for ``popularity`` and ``item_mean``: the per-item table,
    for item_mean the prior strength with the best validation AUC, and the test metrics of
    :func:`invlearn.training.final_metrics`. ``data`` already holds only the kept labeled rows.

    The scores are logits so that the validation and test BCE mean something: item_mean's
    shrunk mean through the logit, popularity's ``log(1 + count)`` (a ranking, not a
    probability). ``metrics["prior_strength"]`` is item_mean's chosen ``k``. The result's history
    has one row (epoch 0): nothing is trained."""
    if config.method not in SCORES:
        raise InvlearnError(f"train_score scores {', '.join(SCORES)}, not {config.method!r}")
    if model is not None:
        raise InvlearnError(f"{config.method} learns nothing and takes no model: leave model "
                            f"unset")
    device = pick_device(config.device)
    start = time.perf_counter()
    if config.method == "popularity":
        tables = {None: np.log1p(popularity(data, config.pool))}
    else:
        tables = {k: _logit(item_mean(data, k)) for k in PRIOR_STRENGTHS}
    best_key, best_valid, best_model = None, None, None
    for key, table in tables.items():
        model = ItemScore(torch.as_tensor(table), data.n_users).to(device)
        valid = evaluate(model, data.valid, device)
        if best_valid is None or valid["auc"] > best_valid["auc"]:
            best_key, best_valid, best_model = key, valid, model
    seconds = time.perf_counter() - start
    history = History(epochs=[{"epoch": 0, "loss": float("nan"), "seconds": seconds,
                               **{f"valid_{k}": v for k, v in best_valid.items()}}])
    metrics = final_metrics(best_model, data, device, config)
    if best_key is not None:
        metrics["prior_strength"] = float(best_key)
    return TrainResult(metrics=metrics, valid=best_valid, best_epoch=0, seconds_per_epoch=seconds,
                       config=config, history=history, model=best_model, data_name=data.name)

