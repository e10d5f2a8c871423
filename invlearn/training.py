"""What every trainer shares: checking a run's inputs, evaluating a model on labeled rows and
by full ranking, and the result of a run — its metrics and its history.

:func:`invlearn.methods.train` (the eager, row-sparse step) and
:func:`invlearn.static.train_static` (the static-shape step) both build on this module.
"""
from __future__ import annotations

import copy
import dataclasses
import itertools
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm import tqdm

from . import losses
from .config import TrainConfig, check_device
from .data import Split
from .errors import InvlearnError, TrainingDiverged
from .ig import DIRECTIONS, is_tie
from .metrics import full_ranking_metrics, labeled_metrics
from .models import build_model
from .serving import predict, score_function


@dataclass
class History:
    """What happened during training, for the book's figures.

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
        """The per-epoch rows as a DataFrame indexed by epoch."""
        return pd.DataFrame(self.epochs).set_index("epoch")

    def annotation_accuracy(self, truth=None) -> pd.Series:
        """Per epoch, how often IDL's annotation ``w1 > 0.5`` matches the true label of the
        unlabeled row (chapter 3): from the pool's labels when recorded, else from
        ``truth.true_label(users, items)`` (the simulated feed)."""
        acc = {}
        for epoch, rec in self.weights.items():
            called, true = annotation(rec, truth)
            acc[epoch] = float(np.mean(called == true))
        return pd.Series(acc, name="annotation_accuracy", dtype=float).rename_axis("epoch")


def annotation(rec: dict, truth: Any = None,
               recorded: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """IDL's annotation of one epoch's recorded unlabeled rows, against the truth (chapter 3):
    which rows it calls positive (``w1 > 0.5``) and which are truly positive — from the pool's
    labels recorded with the rows (``recorded``), else ``truth.true_label(users, items)`` (the
    simulated feed). Every annotation accuracy of the package is computed from these two."""
    if recorded and "true" in rec:
        true = rec["true"]
    elif truth is not None:
        true = truth.true_label(rec["user"], rec["item"])
    else:
        raise InvlearnError("annotation accuracy needs the true labels: this run's "
                            "pool has none, so pass truth= (e.g. the simulated feed)")
    return np.asarray(rec["w1"]) > 0.5, np.asarray(true) == 1


@dataclass
class TrainResult:
    """Test metrics of the best validation epoch, and the history of the run."""

    metrics: dict
    valid: dict
    best_epoch: int
    seconds_per_epoch: float
    config: TrainConfig
    history: History
    model: nn.Module
    data_name: str = ""
    #: The id maps and seen pairs of the data (:class:`invlearn.serving.Catalogue`), set by
    #: ``train``: what ``predict``, ``recommend`` and ``save`` need for your original ids.
    catalogue: Any = field(default=None, repr=False)

    def predict(self, users: Any, items: Any) -> np.ndarray:
        """Probability of a positive for each (user, item) pair, original ids in (or one user
        and several items); see :func:`invlearn.serving.predict_ids`."""
        from .serving import predict_ids

        return predict_ids(self.model, self.catalogue, users, items)

    def recommend(self, user: Any, k: int = 10, exclude_seen: bool = True) -> pd.DataFrame:
        """The top ``k`` items for ``user`` as a table ``item`` (original ids), ``score``,
        leaving out the items the user already has; see :func:`invlearn.serving.recommend`."""
        from .serving import recommend

        return recommend(self.model, self.catalogue, user, k, exclude_seen)

    def save(self, path: Any) -> Any:
        """Write weights, config, id maps and metrics to one file, atomically; read it back with
        :func:`invlearn.training.load` (:func:`invlearn.serving.save`)."""
        from .serving import save

        return save(self, path)

    def to_dict(self, histories: bool = False) -> dict:
        """The JSON-ready record of the run: metrics by name, parameters, per-epoch table and,
        for IG, the direction counts and how much the kept meta-moves changed. With
        ``histories``, also IG's meta-steps (``meta``: one list per column) and, per recorded
        epoch, a 20-bin histogram of the IDL weights ``w1`` on [0, 1] (``w1_histogram``) — what
        the book's weight and direction figures are drawn from."""
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
    """IG's meta-steps as lists and the IDL weights as histograms, for a JSON record."""
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


def meta_frame(epoch: int, candidates: torch.Tensor, kept: torch.Tensor, changed: torch.Tensor,
               relative_move: torch.Tensor) -> pd.DataFrame:
    """One epoch's IG meta-steps as rows of ``History.meta`` (chapter 5), from one entry per
    meta-step: the three candidate losses (``[n, 3]``), the kept index, the entries the kept
    move changed and its relative size. Both engines record their meta-steps with it."""
    cand, kept = candidates.cpu().numpy(), kept.cpu().numpy()
    return pd.DataFrame({
        "epoch": epoch, "step": np.arange(len(kept)),
        "direction": np.array(DIRECTIONS)[kept],
        "loss_direct": cand[:, 0], "loss_pass": cand[:, 1], "loss_inverse": cand[:, 2],
        "tie": is_tie(torch.as_tensor(cand)).numpy(),
        "changed": changed.cpu().numpy(), "relative_move": relative_move.cpu().numpy()})


def record_rows(store: dict, epoch: int, columns: dict[str, torch.Tensor], n: int) -> None:
    """Keep the first ``n`` rows of each recorded column of an epoch in ``store`` (a
    :class:`History` dict), as numpy arrays."""
    store[epoch] = {k: v[:n].cpu().numpy() for k, v in columns.items()}


def log_meta(run: TrainingRun, epoch: int, candidates: torch.Tensor, kept: torch.Tensor,
             changed: torch.Tensor, relative_move: torch.Tensor,
             rows: dict[str, torch.Tensor]) -> None:
    """Record one epoch of IG's meta-steps on a run of either engine: their rows of
    ``History.meta`` (:func:`meta_frame`) and the first ``record_rows`` of the unlabeled rows
    they used (``user``, ``item``, ``w1`` and, when the pool knows it, ``true``)."""
    run.meta_log.append(meta_frame(epoch, candidates, kept, changed, relative_move))
    record_rows(run.history.weights, epoch, rows, run.cfg.record_rows)


class TrainingRun(Protocol):
    """What the shared epoch loop (:func:`fit`) needs from a run of either
    engine: :class:`invlearn.methods.Run` (eager) and :class:`invlearn.static.StaticRun`."""

    cfg: TrainConfig
    data: Split
    model: nn.Module
    device: torch.device
    history: History
    seconds: list[float]  # of every epoch, validated or not
    meta_log: list[pd.DataFrame]  # IG's meta-steps, one frame per epoch (empty otherwise)


class BaseRun:
    """What a run of either engine starts from (a :class:`TrainingRun`): the data and settings,
    the device, the random streams of the seed (:func:`random_streams`), the model (the
    config's backbone when none is given, ``sparse`` tables or dense ones) checked against the
    data and on the device, the labeled training rows there, and empty records."""

    def __init__(self, data: Split, cfg: TrainConfig, model: nn.Module | None, sparse: bool):
        self.data, self.cfg = data, cfg
        self.device = pick_device(cfg.device)
        self.rng, self.gen = random_streams(cfg.seed)
        if model is None:
            model = build_model(cfg.backbone, data.n_users, data.n_items, cfg.dim, sparse=sparse)
        check_model(model, data)
        self.model = model.to(self.device)
        self.users, self.items, self.labels = row_tensors(data.train, self.device)
        self.history = History()
        self.meta_log: list[pd.DataFrame] = []
        self.seconds: list[float] = []  # of every epoch (validated or not)

    def permutation(self, n: int) -> torch.Tensor:
        """A fresh random order of ``n`` rows from the run's torch stream, on the device."""
        return torch.randperm(n, generator=self.gen).to(self.device)


def load(path: Any, device: str | None = None) -> TrainResult:
    """A model saved by ``result.save(path)``, as a :class:`TrainResult` with the same weights,
    config, id maps and test metrics (its history is empty): ``predict`` and ``recommend`` give
    exactly the saved result's scores (:func:`invlearn.serving.read_saved`)."""
    from .serving import read_saved

    saved = read_saved(path, device)
    result = TrainResult(metrics=saved["metrics"], valid=saved["valid"],
                         best_epoch=saved["best_epoch"],
                         seconds_per_epoch=saved["seconds_per_epoch"], config=saved["config"],
                         history=History(), model=saved["model"], data_name=saved["data_name"])
    result.catalogue = saved["catalogue"]
    return result


def pick_device(device: str | None = None) -> torch.device:
    """``device`` if given (checked), else CUDA when available, else the CPU."""
    if device:
        check_device(device)
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def sync(device: torch.device) -> None:
    """Wait for the device's queued work (CUDA), so that a wall-clock time measures it."""
    if device.type == "cuda":
        torch.cuda.synchronize()


def random_streams(seed: int) -> tuple[np.random.Generator, torch.Generator]:
    """A run's random streams from its seed: a numpy generator (unlabeled draws, IG's split) and
    a torch generator (batch orders); torch's global seed is set as well (model initialisation).
    Both engines start from them."""
    seeds = np.random.SeedSequence(seed).spawn(3)
    rng = np.random.default_rng(seeds[0])
    gen = torch.Generator().manual_seed(int(seeds[1].generate_state(1)[0]))
    torch.manual_seed(seed)
    return rng, gen


def row_tensors(table: pd.DataFrame, device: torch.device) -> tuple[torch.Tensor, ...]:
    """The ``user``, ``item`` (int64) and ``label`` (float32) columns of a table on ``device``."""
    return tuple(torch.as_tensor(table[col].to_numpy(dtype, copy=True), device=device)
                 for col, dtype in (("user", np.int64), ("item", np.int64),
                                    ("label", np.float32)))


def evaluate(model: nn.Module, table: pd.DataFrame, device: torch.device) -> dict:
    """Labeled metrics (AUC, GAUC, NDCG@10, MRR; chapter 6) and BCE of ``model`` on a table."""
    u, i, y = row_tensors(table, device)
    logits = predict(model, u, i)
    scores = logits.float().cpu().numpy()
    if np.isnan(scores).any():
        raise TrainingDiverged(f"training diverged: the model's scores are NaN on "
                               f"{int(np.isnan(scores).sum())} of {len(scores)} rows; try a "
                               f"smaller lr")
    out = labeled_metrics(table["user"].to_numpy(), table["label"].to_numpy(), scores)
    out["bce"] = float(losses.bce(logits.float(), y))
    return out


def ranking_mask_pairs(data: Split, mask: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """The (user, item) pairs full ranking leaves out: the training rows (with the rows whose
    labels were withheld, chapter 9), plus the validation rows for ``"train+valid"`` (what
    DenoisingRec's code does)."""
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


def check_model(model: nn.Module, data: Split) -> None:
    """Clear error when ``data``'s ids do not fit the model's embedding tables."""
    for attr, n, what in (("n_users", data.n_users, "users"), ("n_items", data.n_items, "items")):
        size = getattr(model, attr, None)
        if size is not None and size < n:
            raise InvlearnError(f"the model has {size} {what} but the data has {n}: "
                                f"ids up to {n - 1} do not fit")


def merge_config(config: TrainConfig | None, overrides: dict) -> TrainConfig:
    """``config`` with keyword ``overrides`` of its fields, checked, its switches set as its
    ``reading`` says (:meth:`~invlearn.config.TrainConfig.resolved`)."""
    if config is not None and not isinstance(config, TrainConfig):
        raise InvlearnError(f"config must be a TrainConfig, got {type(config).__name__} "
                            f"(for a dict, use TrainConfig.from_dict(...) or train(data, "
                            f"**settings))")
    settings = {**(dataclasses.asdict(config) if config else {}), **overrides}
    return TrainConfig.from_dict(settings).resolved()


def check_inputs(data: Split, model: nn.Module | None) -> None:
    """Clear error unless ``data`` is a Split and ``model`` (if given) a torch module."""
    if not isinstance(data, Split):
        raise InvlearnError(f"data must be an invlearn Split, got {type(data).__name__}")
    if model is not None and not isinstance(model, nn.Module):
        raise InvlearnError(f"model must be a torch.nn.Module mapping (users, items) to logits, "
                            f"got {type(model).__name__} (to choose GMF or NeuMF, pass "
                            f"backbone='gmf' or backbone='neumf')")
    if model is not None:
        _try_model(model)


def _try_model(model: nn.Module) -> None:
    """Call ``model`` once on two (user 0, item 0) rows in eval mode, without gradients, and
    raise :class:`~invlearn.errors.InvlearnError` unless it returns two logits."""
    param = next(itertools.chain(model.parameters(), model.buffers()), None)
    device = param.device if param is not None else torch.device("cpu")
    ids = torch.zeros(2, dtype=torch.long, device=device)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = model(ids, ids)
    except (TypeError, ValueError, RuntimeError, IndexError, AttributeError) as err:
        raise InvlearnError(f"model must map (users, items), two id tensors, to one logit "
                            f"per row; calling it on two rows failed: {type(err).__name__}: "
                            f"{str(err)[:200]}") from None
    finally:
        model.train(was_training)
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != (2,):
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise InvlearnError(f"model must map (users, items) to one logit per row, a tensor "
                            f"of shape (2,) for two rows; it returned {shape}")


def with_label_fraction(data: Split, config: TrainConfig) -> Split:
    """``data`` with only ``label_fraction`` of its labeled training rows kept (chapter 9); the
    others become the ``hidden`` pool. Nested for one seed: the run's seed chooses them."""
    if config.label_fraction >= 1 and config.pool != "hidden":
        return data
    from .splits import label_fraction

    return label_fraction(data, config.label_fraction, seed=config.seed)


def epoch_budget(config: TrainConfig) -> tuple[int, int]:
    """Epochs to train and epochs between validations: ``epochs`` and ``eval_every``, both
    scaled by ``1 / label_fraction`` with ``equal_steps`` (chapter 9: at f = 1 % an epoch is a
    hundredth of the optimizer steps, so a fair comparison gives it a hundred times the epochs)."""
    if not config.equal_steps or config.label_fraction >= 1:
        return config.epochs, config.eval_every
    scale = 1.0 / config.label_fraction
    return math.ceil(config.epochs * scale), math.ceil(config.eval_every * scale)


def fit(run: TrainingRun, epoch_fn: Callable[[int], float], progress: bool,
        result: type[TrainResult] = TrainResult) -> TrainResult:
    """The epoch loop every trainer shares: ``epoch_fn(epoch)`` trains one epoch and returns its
    loss; the model is validated every ``eval_every`` epochs and at the last, the best
    validation epoch's state is kept, and training stops after ``patience`` validations without
    improvement. Then IG's meta-steps go into the history and the best state is tested once
    (:func:`final_metrics`). Returns it as a ``result`` (:class:`TrainResult` or a subclass)."""
    cfg, data = run.cfg, run.data
    epochs, every = epoch_budget(cfg)
    best, best_state, best_valid, stale = None, None, {}, 0
    bar = tqdm(range(1, epochs + 1), desc=f"{cfg.method}-{cfg.backbone}",
               disable=not progress, leave=False)
    for epoch in bar:
        sync(run.device)
        start = time.perf_counter()
        loss = epoch_fn(epoch)
        sync(run.device)
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
    if run.meta_log:
        run.history.meta = pd.concat(run.meta_log, ignore_index=True)
    run.model.load_state_dict(best_state)
    return result(metrics=final_metrics(run.model, data, run.device, cfg), valid=best_valid,
                  best_epoch=best[1], seconds_per_epoch=float(np.median(run.seconds)),
                  config=cfg, history=run.history, model=run.model, data_name=data.name)


def final_metrics(model: nn.Module, data: Split, device: torch.device,
                 config: TrainConfig) -> dict:
    """The test metrics of a kept model: labeled metrics and, with ``full_ranking``,
    Recall@K / NDCG@K. Where the data knows the truth (the simulated feed, chapters 8–9), also
    the same metrics against the true labels of the same test rows (suffix ``_truth``), the
    labeled metrics on :func:`invlearn.simfeed.truth_test_set` (suffix ``_truthset``), and the
    truly liked share of the withheld labels (``hidden_truth_share``, beside
    ``hidden_label_share`` by observed label)."""
    metrics = evaluate(model, data.test, device)
    if config.full_ranking:
        metrics.update(ranking_metrics(model, data, device, config.ranking_mask))
    truth = getattr(data, "truth", None)
    if truth is None:
        return metrics
    from .simfeed import truth_test_set

    test = data.test.assign(label=truth.true_label(data.test["user"].to_numpy(),
                                                   data.test["item"].to_numpy()
                                                   ).astype(np.float32))
    metrics.update({f"{k}_truth": v for k, v in evaluate(model, test, device).items()})
    if config.full_ranking:
        truthful = dataclasses.replace(data, test=test)
        metrics.update({f"{k}_truth": v for k, v in
                        ranking_metrics(model, truthful, device, config.ranking_mask).items()})
    metrics.update({f"{k}_truthset": v for k, v in
                    evaluate(model, truth_test_set(data), device).items()})
    hidden = getattr(data, "hidden", None)
    if hidden is not None and len(hidden):
        liked = truth.true_label(hidden["user"].to_numpy(), hidden["item"].to_numpy())
        metrics["hidden_truth_share"] = float(np.mean(liked == 1))
        metrics["hidden_label_share"] = float(np.mean(hidden["label"].to_numpy() > 0.5))
    return metrics
