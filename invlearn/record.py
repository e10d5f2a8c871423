"""One run's record: a dict of parameters checked, its data loaded, trained, and recorded.

``run_experiment(params)`` is the one path from parameters to a result: :func:`load_data` turns
the data keys into a split, ``train`` runs the :class:`~invlearn.config.TrainConfig` fields, and
:func:`build_record` makes the run's one record (``TrainResult.to_dict()`` plus the run's context:
load time, peak memory, data sizes). ``python -m invlearn train --out`` writes that record, every
grid run writes it to ``runs/<id>.json`` (:mod:`invlearn.grid`), and :func:`flat_row` makes it a
row of ``results.csv``.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import sys
import time
from collections.abc import Mapping
from typing import Any

import numpy as np

from .config import POOLS, TrainConfig
from .data import DATA_KEYS, check_data_keys, dataset_arguments
from .errors import InvlearnError


def config_fields() -> tuple[str, ...]:
    """The names of the TrainConfig fields, in declaration order."""
    return tuple(f.name for f in dataclasses.fields(TrainConfig))


def run_id(params: Mapping[str, Any]) -> str:
    """A short stable name for a run: readable fields plus a hash of all parameters."""
    text = json.dumps(dict(sorted(params.items())), sort_keys=True, default=str)
    digest = hashlib.sha1(text.encode()).hexdigest()[:10]
    name = "-".join(str(params.get(k, "")) for k in ("dataset", "backbone", "method", "seed"))
    return f"{name}-{digest}".replace("/", "_")


def check_params(params: Mapping[str, Any]):
    """Split ``params`` into data keys and a checked :class:`~invlearn.config.TrainConfig`;
    raise :class:`~invlearn.errors.InvlearnError` naming the key for anything unknown or out of
    range."""
    if not isinstance(params, Mapping):
        raise InvlearnError(f"run parameters must be a dict, got {type(params).__name__}")
    fields = config_fields()
    unknown = sorted(set(params) - set(fields) - set(DATA_KEYS))
    if unknown:
        raise InvlearnError(f"unknown run parameter(s) {', '.join(map(repr, unknown))}; known: "
                            f"{', '.join(DATA_KEYS)} and the TrainConfig fields")
    keys = {k: params[k] for k in DATA_KEYS if k in params}
    check_data_keys(keys)
    config = TrainConfig.from_dict({k: v for k, v in params.items() if k in fields})
    check_runnable(keys.get("dataset", "sim"), config)
    if config.pool == "unlabeled" and keys.get("unlabeled") is None:
        raise InvlearnError("pool unlabeled needs your unlabeled interactions: give the file "
                            "(--unlabeled PATH, or the key unlabeled)")
    return keys, config


def check_runnable(dataset: str, config: Any) -> None:
    """Raise :class:`~invlearn.errors.InvlearnError` for a setting that every run on the data
    set named ``dataset`` (never thinned before) would fail on: a pool the method cannot draw
    from, the hidden pool at label fraction 1, the ambiguous pool off the simulated feed, the
    static step for what it does not support (:func:`invlearn.static.check_static`)."""
    from .methods import METHOD_TABLE
    from .static import check_static

    pools = METHOD_TABLE[config.method].pools if config.method in METHOD_TABLE else POOLS
    if config.pool not in pools:
        raise InvlearnError(f"method {config.method} draws from the pool(s) {', '.join(pools)}, "
                            f"not {config.pool!r}")
    if config.pool == "hidden" and config.label_fraction >= 1:
        raise InvlearnError("pool 'hidden' needs label_fraction below 1: at 1 no training "
                            "label is withheld, so the pool is empty")
    if config.pool == "ambiguous" and dataset != "sim":
        raise InvlearnError(f"pool 'ambiguous' needs dataset sim (the simulated feed's "
                            f"unlabeled impressions), not {dataset!r}")
    if config.step == "static":
        check_static(config.resolved())


def load_data(params: Mapping[str, Any]):
    """The split that run parameters describe (``dataset`` and its keys, ``seed``)."""
    from .data import load_dataset

    keys, config = check_params(params)
    name, arguments = dataset_arguments(keys)
    data = load_dataset(name, seed=config.seed, **arguments)
    if name != "files" and keys.get("unlabeled") is not None:
        from .owndata import with_unlabeled

        data = with_unlabeled(data, keys["unlabeled"])
    return data


def peak_memory_mb() -> float | None:
    """This process's peak resident memory in MB (None where ``resource`` is missing)."""
    try:
        import resource
    except ImportError:
        return None
    scale = 1024 * 1024 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / scale


def build_record(params: Mapping[str, Any], result: Any, data: Any,
                 seconds: Mapping[str, float]) -> dict:
    """The one record of a run: ``result.to_dict()``, the parameters as given (flat), the
    columns the chapters read (``valid_auc``, ``epochs_run``, ``annotation_first``…, the
    ``optimizer`` even where the parameters leave it to its default) and the run's context
    (``seconds_load``, ``seconds_total``, ``peak_memory_mb``, ``data`` sizes)."""
    summary = result.to_dict()
    history = summary.pop("epochs", None)
    record = {**summary, **params, "history": history,
              "valid_auc": result.valid.get("auc"), "valid_bce": result.valid.get("bce"),
              **seconds, "peak_memory_mb": peak_memory_mb(),
              "data": {"name": data.name, "users": data.n_users, "items": data.n_items,
                       "train_rows": len(data.train), "valid_rows": len(data.valid),
                       "test_rows": len(data.test),
                       **({"evaluation": data.info["evaluation"]}
                          if "evaluation" in data.info else {})}}
    record.setdefault("dataset", summary.get("dataset"))
    record.setdefault("optimizer", result.config.optimizer)  # lazy or dense Adam, always said
    record.update(annotation_columns(result, data))
    return {k: (v.item() if isinstance(v, np.generic) else v) for k, v in record.items()}


def annotation_columns(result: Any, data: Any) -> dict:
    """IDL's and IG's annotation of their unlabeled rows (``w1 > 0.5`` called positive) scored
    against the rows' true labels, where these are known (the simulated feed's truth, or the
    withheld labels of the ``hidden`` pool): ``annotation_first`` / ``_last`` (the first and
    last epoch), ``annotation_accuracy`` (the best validation epoch, whose model is kept) and
    ``pool_positive_share`` (the share of true positives among that epoch's rows: the
    all-positive annotator's accuracy), and on the simulated feed ``pool_truth_share`` (that
    share by the simulator's truth: the hidden pool's labels are observed, noisy labels). Empty
    for other methods and for pools with no truth (uniform random pairs of MovieLens)."""
    from .training import annotation

    weights = result.history.weights
    if not weights or (data.truth is None and not all("true" in r for r in weights.values())):
        return {}
    accuracy = result.history.annotation_accuracy(data.truth)
    epoch = result.best_epoch if result.best_epoch in weights else max(weights)
    rec = weights[epoch]
    true = annotation(rec, data.truth)[1]
    out = {"annotation_first": float(accuracy.iloc[0]),
           "annotation_last": float(accuracy.iloc[-1]),
           "annotation_accuracy": float(accuracy.loc[epoch]),
           "pool_positive_share": float(np.mean(true))}
    if data.truth is not None:  # the simulator: the pool's liked share by the truth itself
        liked = data.truth.true_label(rec["user"], rec["item"])
        out["pool_truth_share"] = float(np.mean(np.asarray(liked) == 1))
    return out


def run_experiment(params: Mapping[str, Any], progress: bool = False,
                   return_result: bool = False) -> dict | tuple[dict, Any]:
    """Check ``params`` (data keys plus TrainConfig fields), load the data, train, and return
    the run's record (:func:`build_record`); with ``return_result`` also the ``TrainResult``."""
    from .methods import train

    params = dict(params)
    _, config = check_params(params)
    start = time.perf_counter()
    data = load_data(params)
    loaded = time.perf_counter()
    result = train(data, config, progress=progress)
    seconds = {"seconds_load": loaded - start, "seconds_total": time.perf_counter() - start}
    record = build_record(params, result, data, seconds)
    return (record, result) if return_result else record


def flat_row(record: Mapping[str, Any]) -> dict:
    """The scalar entries of a run record: one row of ``results.csv``."""
    return {k: v for k, v in record.items()
            if v is None or isinstance(v, (str, int, float, bool, np.generic))}
