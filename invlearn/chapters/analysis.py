"""Measurements against the truth: what the simulated feed lets the book check (chapters 1–2).

A real log never says whether a sampled "negative" is truly negative, or whether a positive that
T-CE drops was noise. The simulated feed (:mod:`invlearn.simfeed`) knows the true label of every
pair, so these helpers turn a split, a trained model or a training history into such numbers.
``truth`` is any object with ``true_label(users, items) -> array of 0/1`` (a ``SimFeed``).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from ..data import Split
from ..errors import InvlearnError
from ..models import build_model
from ..sampling import pair_keys, sample_unlabeled
from ..training import predict


def _truth(split: Split, truth: Any | None = None) -> Any:
    truth = split.truth if truth is None else truth
    if truth is None:
        raise InvlearnError(f"{split.name}: no truth to measure against (use a simulated feed)")
    return truth


def sample_negatives(split: Split, rate: int = 1, seed: int = 0) -> pd.DataFrame:
    """One draw of the pairs negative sampling calls negatives (book chapter 1).

    As NS does in one epoch: for every training row, ``rate`` items drawn uniformly among the
    items its user has no training pair with (:func:`invlearn.sampling.sample_unlabeled`).
    Returns a DataFrame with int64 columns ``user`` and ``item``, ``rate`` rows per training row.
    """
    users = split.train["user"].to_numpy(np.int64)
    keys = pair_keys(users, split.train["item"].to_numpy(np.int64), split.n_items)
    items = sample_unlabeled(users, split.n_items, keys, rate, np.random.default_rng(seed))
    return pd.DataFrame({"user": np.repeat(users, rate), "item": items.reshape(-1)})


def false_negative_rate(truth: Any, users: np.ndarray, items: np.ndarray) -> float:
    """Share of pairs, all taken as negatives, that are truly positive (chapters 1 and 2)."""
    if len(users) == 0:
        raise InvlearnError("false_negative_rate needs at least one pair")
    return float(np.mean(np.asarray(truth.true_label(users, items)) == 1))


def oracle_split(split: Split, rate: int = 1, seed: int = 0, use_truth: bool = True) -> Split:
    """The split an oracle trains on: the labeled training rows plus one draw of sampled pairs
    (:func:`sample_negatives`) carrying their *true* labels (book chapter 1).

    Validation and test rows are unchanged, so the oracle is scored like every other method.
    Train it with ``method="none"``: the sampled pairs are already in its training table. The
    draw is made once, not redrawn every epoch as NS does; ``use_truth=False`` labels the same
    draw 0, which is negative sampling with that one fixed draw (the oracle's fair rival).
    The oracle that redraws every epoch, as NS does, is ``train(split, method="ns",
    true_labels=True)``.
    """
    truth = _truth(split)
    sampled = sample_negatives(split, rate, seed)
    label = (truth.true_label(sampled["user"].to_numpy(), sampled["item"].to_numpy())
             if use_truth else np.zeros(len(sampled)))
    sampled["label"] = np.asarray(label, np.float32)
    labeled = split.train[["user", "item", "label"]]
    train = pd.concat([labeled, sampled], ignore_index=True)
    return Split(train, split.valid, split.test, n_users=split.n_users, n_items=split.n_items,
                 name=f"{split.name}-{'oracle' if use_truth else 'fixed-ns'}", truth=truth, user_ids=split.user_ids,
                 item_ids=split.item_ids, info={**split.info, "oracle_rate": rate,
                                                "oracle_seed": seed,
                                                "oracle_truth": use_truth})


def drop_precision_recall(dropped: dict, split: Split) -> pd.DataFrame:
    """Per epoch, how well T-CE's dropped rows match the noisy positives (book chapter 2).

    ``dropped`` is ``History.dropped`` of a T-CE run on ``split`` (per epoch the ``user`` and
    ``item`` of the dropped rows). A *noisy positive* is a training row labeled 1 whose true label
    is 0. ``precision`` = share of dropped rows that are noisy positives, ``recall`` = share of
    noisy positives dropped that epoch (Wang et al. 2021, §5.2.2); ``noisy_share`` = share of
    training positives that are noisy, the precision of dropping at random. Only recorded rows
    count (``History`` keeps at most ``record_rows`` per epoch).
    """
    truth = _truth(split)
    pos = split.train[split.train["label"].to_numpy() > 0.5]
    pu, pi = pos["user"].to_numpy(np.int64), pos["item"].to_numpy(np.int64)
    noisy = np.asarray(truth.true_label(pu, pi)) == 0
    noisy_keys = pair_keys(pu[noisy], pi[noisy], split.n_items)
    rows = []
    for epoch, rec in sorted(dropped.items()):
        keys = pair_keys(rec["user"], rec["item"], split.n_items)  # a row drops once an epoch
        caught = int(np.isin(keys, noisy_keys).sum())
        rows.append({"epoch": epoch, "dropped": len(keys),
                     "precision": caught / len(keys) if len(keys) else float("nan"),
                     "recall": caught / len(noisy_keys) if len(noisy_keys) else float("nan"),
                     "noisy_share": float(noisy.mean()) if len(noisy) else float("nan")})
    return pd.DataFrame(rows).set_index("epoch")


def row_bce(model: nn.Module, table: pd.DataFrame) -> np.ndarray:
    """The BCE of every row of a labeled table under ``model`` (book chapter 2: which rows are
    large-loss, the ones T-CE drops)."""
    device = next(model.parameters()).device
    users, items, labels = (torch.as_tensor(table[col].to_numpy(dtype, copy=True), device=device)
                            for col, dtype in (("user", np.int64), ("item", np.int64),
                                               ("label", np.float32)))
    logits = predict(model, users, items).float()
    return F.binary_cross_entropy_with_logits(logits, labels, reduction="none").cpu().numpy()


class NegativeRecorder(nn.Module):
    """A backbone wrapper that keeps the negatives a method actually trained on (chapter 2).

    Pass ``NegativeRecorder.for_split(split, seed=seed)`` as ``train(..., model=...)``. For NS, T-CE and
    R-CE (``sampling_rate=1``), DNS and SRNS, every training batch of ``invlearn.methods`` is the
    labeled rows followed by one negative per row, so the second half of each training-mode
    forward pass (with gradients) is the negatives of that step; evaluation passes are ignored.
    ``steps`` holds one ``(users, items)`` pair of arrays per training step, and ``labeled`` one
    ``(users, items, logits)`` triple of the first half: the labeled rows and their logits at
    the moment of the step (the logits T-CE ranks its drops by).
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model
        self.n_users = getattr(model, "n_users", None)
        self.n_items = getattr(model, "n_items", None)
        self.steps: list[tuple[np.ndarray, np.ndarray]] = []
        self.labeled: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []

    @classmethod
    def for_split(cls, split: Split, backbone: str = "gmf", dim: int = 32,
                  seed: int = 0) -> NegativeRecorder:
        """Wrap the backbone ``train`` would build for ``split`` with ``seed`` (same seeding, same
        initial weights), so a run with the recorder is the run without it."""
        torch.manual_seed(seed)
        return cls(build_model(backbone, split.n_users, split.n_items, dim))

    def forward(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        logits = self.model(users, items)
        if self.training and torch.is_grad_enabled():
            half = len(users) // 2
            self.steps.append((users[half:].cpu().numpy(), items[half:].cpu().numpy()))
            self.labeled.append((users[:half].cpu().numpy(), items[:half].cpu().numpy(),
                                 logits[:half].detach().float().cpu().numpy()))
        return logits

    def score_all(self, users: torch.Tensor) -> torch.Tensor:
        """The wrapped model's scores against all items (for full-ranking metrics)."""
        return self.model.score_all(users)


def negative_truth_by_epoch(recorder: NegativeRecorder, truth: Any,
                            steps_per_epoch: int) -> pd.Series:
    """Per epoch, the share of the recorded negatives that are truly positive (chapter 2).

    ``steps_per_epoch`` is the number of training batches an epoch
    (``ceil(len(train) / batch_size)``).
    """
    if steps_per_epoch < 1 or len(recorder.steps) % steps_per_epoch:
        raise InvlearnError(f"{len(recorder.steps)} recorded steps do not make whole epochs of "
                            f"{steps_per_epoch} steps")
    out = {}
    for e in range(len(recorder.steps) // steps_per_epoch):
        part = recorder.steps[e * steps_per_epoch:(e + 1) * steps_per_epoch]
        users = np.concatenate([u for u, _ in part])
        items = np.concatenate([i for _, i in part])
        out[e + 1] = false_negative_rate(truth, users, items)
    return pd.Series(out, name="truly_positive").rename_axis("epoch")


def annotation_scores(called_positive: np.ndarray, truly_positive: np.ndarray) -> dict:
    """How well a positive / negative annotation matches the truth (chapter 3): accuracy, the
    share called positive, recall of the true positives and specificity on the negatives."""
    called, truth = np.asarray(called_positive, bool), np.asarray(truly_positive, bool)
    return {"accuracy": float(np.mean(called == truth)),
            "called positive": float(np.mean(called)),
            "recall": float(np.mean(called[truth])) if truth.any() else float("nan"),
            "specificity": float(np.mean(~called[~truth])) if (~truth).any() else float("nan")}


def confident_share(w1: np.ndarray, margin: float = 0.1) -> float:
    """Share of IDL weights within ``margin`` of 0 or 1 (chapter 3: how polarised they are)."""
    w1 = np.asarray(w1)
    return float(np.mean((w1 < margin) | (w1 > 1 - margin)))
