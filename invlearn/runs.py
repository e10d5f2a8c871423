"""What every trainer shares (chapters 1 and 6): checking a run's inputs, evaluating a model on
labeled rows and by full ranking, and the result of a run — its metrics and its history.

:func:`invlearn.methods.train` (the eager, row-sparse step) and
:func:`invlearn.static.train_static` (the static-shape step) both build on this module.
"""
from __future__ import annotations

import copy
import dataclasses
import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm import tqdm

from . import losses
from .config import TrainConfig, check_device
from .data import Split
from .errors import InvlearnError
from .ig import DIRECTIONS
from .metrics import full_ranking_metrics, labeled_metrics


@dataclass
class History:
    """What happened during training, for the book's figures (chapters 1–5).

    ``epochs``: one row per validated epoch (every ``eval_every``-th and the last: ``epoch``,
    ``loss``, ``seconds``, ``valid_*`` metrics).
    ``meta``: IG only, one row per meta-step: ``epoch``, ``step``, ``direction`` (direct /
    pass / inverse), the training-test BCE at the three candidates in float64 (``loss_direct``,
    ``loss_pass``, ``loss_inverse``), ``tie`` (the lowest loss reached by more than one
    candidate: θ is kept, recorded as pass), ``changed`` (parameter entries the kept move
    changed) and ``relative_move`` (‖kept move‖ / ‖touched parameters‖).
    ``weights``: IDL and IG, per epoch, the unlabeled rows' ``user``, ``item`` and ``w1``
    (``w0 = 1 − w1``; at most ``record_rows`` rows an epoch), and ``true`` (their true label)
    when the pool knows it. ``dropped``: T-CE, per epoch, the ``user`` and ``item`` of rows
    dropped (at most ``record_rows``) and their number ``count``.
    """

    epochs: list = field(default_factory=list)
    meta: pd.DataFrame | None = None
    weights: dict = field(default_factory=dict)
    dropped: dict = field(default_factory=dict)

    def table(self) -> pd.DataFrame:
        """The per-epoch rows as a DataFrame indexed by epoch (chapters 1–5)."""
        return pd.DataFrame(self.epochs).set_index("epoch")

    def annotation_accuracy(self, truth=None) -> pd.Series:
        """Per epoch, how often IDL's annotation ``w1 > 0.5`` matches the true label of the
        unlabeled row (chapter 3): from the pool's labels when recorded, else from
        ``truth.true_label(users, items)`` (the simulated feed)."""
        acc = {}
        for epoch, rec in self.weights.items():
            if "true" in rec:
                true = rec["true"]
            elif truth is not None:
                true = truth.true_label(rec["user"], rec["item"])
            else:
                raise InvlearnError("annotation accuracy needs the true labels: this run's "
                                    "pool has none, so pass truth= (e.g. the simulated feed)")
            acc[epoch] = float(np.mean((rec["w1"] > 0.5) == (true == 1)))
        return pd.Series(acc, name="annotation_accuracy", dtype=float).rename_axis("epoch")


@dataclass
class TrainResult:
    """Test metrics of the best validation epoch, and the history of the run (chapters 1–5)."""

    metrics: dict
    valid: dict
    best_epoch: int
    seconds_per_epoch: float
    config: TrainConfig
    history: History
    model: nn.Module
    data_name: str = ""

    def to_dict(self, histories: bool = False) -> dict:
        """The JSON-ready record of the run: metrics by name, parameters, per-epoch table and,
        for IG, the direction counts and how much the kept meta-moves changed. With
        ``histories``, also IG's meta-steps (``meta``: one list per column) and, per recorded
        epoch, a 20-bin histogram of the IDL weights ``w1`` on [0, 1] (``w1_histogram``) — what
        the book's weight and direction figures are drawn from (chapters 5–6)."""
        out = {**self.metrics, "best_epoch": self.best_epoch,
               "epochs_run": int(self.history.epochs[-1]["epoch"]),
               "seconds_per_epoch": self.seconds_per_epoch, "dataset": self.data_name,
               "params": asdict(self.config), "valid": self.valid,
               "epochs": self.history.epochs}
        if self.history.meta is not None:
            out.update(meta_summary(self.history.meta))
        if self.history.weights:
            out["mean_w1"] = {int(e): float(np.mean(r["w1"]))
                              for e, r in self.history.weights.items()}
        if histories:
            out.update(history_record(self.history))
        return out


def history_record(history: History, bins: int = 20) -> dict:
    """IG's meta-steps as lists and the IDL weights as histograms, for a JSON
    record (chapters 1–5)."""
    out: dict = {}
    if history.meta is not None:
        out["meta"] = {c: history.meta[c].tolist() for c in history.meta.columns}
    if history.weights:
        edges = np.linspace(0.0, 1.0, bins + 1)
        out["w1_histogram"] = {"edges": edges.tolist(), **{
            str(e): np.histogram(r["w1"], edges)[0].tolist() for e, r in history.weights.items()}}
    return out


def meta_summary(meta: pd.DataFrame) -> dict:
    """IG's meta-steps in a few numbers (chapter 5): direction counts and shares, ties, the
    share of meta-steps whose kept move changed any parameter entry, and medians of the entries
    changed and of the relative size of the kept move."""
    counts = meta["direction"].value_counts()
    n = max(len(meta), 1)
    return {"directions": {d: int(counts.get(d, 0)) for d in DIRECTIONS},
            **{f"share_{d}": float(counts.get(d, 0)) / n for d in DIRECTIONS},
            "share_tie": float(meta["tie"].mean()),
            "share_moved": float((meta["changed"] > 0).mean()),
            "median_changed": float(meta["changed"].median()),
            "median_relative_move": float(meta["relative_move"].median()),
            "n_meta_steps": len(meta)}


def pick_device(device: str | None = None) -> torch.device:
    """``device`` if given (checked), else CUDA when available, else the CPU (chapters 1–5)."""
    if device:
        check_device(device)
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _tensors(table: pd.DataFrame, device: torch.device) -> tuple[torch.Tensor, ...]:
    return tuple(torch.as_tensor(table[col].to_numpy(dtype, copy=True), device=device)
                 for col, dtype in (("user", np.int64), ("item", np.int64),
                                    ("label", np.float32)))


@torch.no_grad()
def predict(model: nn.Module, users: torch.Tensor, items: torch.Tensor,
            batch: int = 1 << 16) -> torch.Tensor:
    """Logits of ``model`` on the pairs, in evaluation mode, batched (chapters 1–5)."""
    was_training = model.training
    model.eval()
    out = torch.cat([model(u, i) for u, i in zip(users.split(batch), items.split(batch))])
    model.train(was_training)
    return out


def evaluate(model: nn.Module, table: pd.DataFrame, device: torch.device) -> dict:
    """Labeled metrics (AUC, GAUC, NDCG@10, MRR; chapter 6) and BCE of ``model`` on a table."""
    u, i, y = _tensors(table, device)
    logits = predict(model, u, i)
    out = labeled_metrics(table["user"].to_numpy(), table["label"].to_numpy(),
                          logits.float().cpu().numpy())
    out["bce"] = float(losses.bce(logits.float(), y))
    return out


def score_function(model: nn.Module, n_items: int) -> Callable[[torch.Tensor], torch.Tensor]:
    """Scores of a batch of users against all items: ``model.score_all`` when the model has
    one, else ``model(users, items)`` on the full grid (chapters 1–5)."""
    if hasattr(model, "score_all"):
        return model.score_all

    def score_all(users: torch.Tensor) -> torch.Tensor:
        items = torch.arange(n_items, device=users.device)
        grid = model(users.repeat_interleave(n_items), items.repeat(len(users)))
        return grid.view(len(users), n_items)

    return score_all


def ranking_mask_pairs(data: Split, mask: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """The (user, item) pairs full ranking leaves out (chapter 6): the training rows (with
    the rows whose labels were withheld, chapter 8), plus the validation rows for
    ``"train+valid"`` — what DenoisingRec's code does."""
    parts = [data.train]
    hidden = getattr(data, "hidden", None)
    if hidden is not None and len(hidden):
        parts.append(hidden)
    if mask == "train+valid":
        parts.append(data.valid)
    users = np.concatenate([p["user"].to_numpy() for p in parts])
    items = np.concatenate([p["item"].to_numpy() for p in parts])
    return users, items


def ranking_metrics(model: nn.Module, data: Split, device: torch.device,
                    mask: str = "train") -> dict:
    """Full-ranking Recall@K / NDCG@K (K = 20, 50) on the test positives (chapter 6), with the
    items of :func:`ranking_mask_pairs` left out of each user's ranking."""
    pos = data.test[data.test["label"] > 0.5]
    users, items = ranking_mask_pairs(data, mask)
    was_training = model.training
    model.eval()
    with torch.no_grad():
        out = full_ranking_metrics(score_function(model, data.n_items), users, items,
                                   pos["user"].to_numpy(), pos["item"].to_numpy(),
                                   data.n_users, data.n_items, device=device)
    model.train(was_training)
    return out


def _check_model(model: nn.Module, data: Split) -> None:
    """Clear error when ``data``'s ids do not fit the model's embedding tables."""
    for attr, n, what in (("n_users", data.n_users, "users"), ("n_items", data.n_items, "items")):
        size = getattr(model, attr, None)
        if size is not None and size < n:
            raise InvlearnError(f"the model has {size} {what} but the data has {n}: "
                                f"ids up to {n - 1} do not fit")


def _merge_config(config: TrainConfig | None, overrides: dict) -> TrainConfig:
    """``config`` with keyword ``overrides`` of its fields, checked, its switches set as its
    ``reading`` says (:meth:`~invlearn.config.TrainConfig.resolved`) (chapter 1)."""
    if config is not None and not isinstance(config, TrainConfig):
        raise InvlearnError(f"config must be a TrainConfig, got {type(config).__name__} "
                            f"(for a dict, use TrainConfig.from_dict(...) or train(data, "
                            f"**settings))")
    settings = {**(dataclasses.asdict(config) if config else {}), **overrides}
    return TrainConfig.from_dict(settings).resolved()


def _check_inputs(data: Split, model: nn.Module | None) -> None:
    if not isinstance(data, Split):
        raise InvlearnError(f"data must be an invlearn Split, got {type(data).__name__}")
    if model is not None and not isinstance(model, nn.Module):
        raise InvlearnError(f"model must be a torch.nn.Module mapping (users, items) to logits, "
                            f"got {type(model).__name__} (to choose GMF or NeuMF, pass "
                            f"backbone='gmf' or backbone='neumf')")


def with_label_fraction(data: Split, config: TrainConfig) -> Split:
    """``data`` with only ``label_fraction`` of its labeled training rows kept (chapter 8); the
    others become the ``hidden`` pool. Nested for one seed: the run's seed chooses them."""
    if config.label_fraction >= 1 and config.pool != "hidden":
        return data
    from .splits import label_fraction

    return label_fraction(data, config.label_fraction, seed=config.seed)


def epoch_budget(config: TrainConfig) -> tuple[int, int]:
    """Epochs to train and epochs between validations: ``epochs`` and ``eval_every``, both
    scaled by ``1 / label_fraction`` with ``equal_steps`` (chapter 8: at f = 1 % an epoch is a
    hundredth of the optimizer steps, so a fair comparison gives it a hundred times the epochs)."""
    if not config.equal_steps or config.label_fraction >= 1:
        return config.epochs, config.eval_every
    scale = 1.0 / config.label_fraction
    return math.ceil(config.epochs * scale), math.ceil(config.eval_every * scale)


def fit(run: Any, epoch_fn: Callable[[int], float], progress: bool) -> tuple[int, dict, dict]:
    """The epoch loop every trainer shares (chapters 1 and 6): ``epoch_fn(epoch)`` trains one
    epoch and returns its loss; the model is validated every ``eval_every`` epochs and at the
    last, the best validation epoch's state is kept, and training stops after ``patience``
    validations without improvement. ``run`` has ``cfg``, ``data``, ``model``, ``device``,
    ``history`` and ``seconds``. Returns the best epoch, its validation metrics and its state."""
    cfg, data = run.cfg, run.data
    epochs, every = epoch_budget(cfg)
    best, best_state, best_valid, stale = None, None, {}, 0
    bar = tqdm(range(1, epochs + 1), desc=f"{cfg.method}-{cfg.backbone}",
               disable=not progress, leave=False)
    for epoch in bar:
        if run.device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        loss = epoch_fn(epoch)
        if run.device.type == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - start
        run.seconds.append(seconds)
        if epoch % every and epoch != epochs:
            continue  # validated every eval_every epochs, and at the last
        valid = evaluate(run.model, data.valid, run.device)
        run.history.epochs.append({"epoch": epoch, "loss": loss, "seconds": seconds,
                                   **{f"valid_{k}": v for k, v in valid.items()}})
        value = valid["auc"] if cfg.select == "auc" else -valid["bce"]
        if best is None or value > best[0]:
            best, best_valid, stale = (value, epoch), valid, 0
            best_state = copy.deepcopy(run.model.state_dict())
        else:
            stale += 1
        bar.set_postfix(loss=f"{loss:.4f}", valid_auc=f"{valid['auc']:.4f}")
        if cfg.patience is not None and stale >= cfg.patience:
            break
    return best[1], best_valid, best_state


def test_best(run: Any, best_state: dict) -> dict:
    """Collect IG's meta-steps into the history, load the best validation epoch's state and
    test it once: labeled metrics and, with ``full_ranking``, Recall@K / NDCG@K (chapter 6)."""
    if getattr(run, "meta_log", None):
        run.history.meta = pd.concat(run.meta_log, ignore_index=True)
    run.model.load_state_dict(best_state)
    metrics = evaluate(run.model, run.data.test, run.device)
    if run.cfg.full_ranking:
        metrics.update(ranking_metrics(run.model, run.data, run.device, run.cfg.ranking_mask))
    return metrics
