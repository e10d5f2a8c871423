"""Experiments: one run as a dict of parameters, and a grid of runs with resume (chapters 6–7).

``run_experiment(params)`` is the one path from parameters to a result: :func:`load_data` turns
the data keys into a split, ``train`` runs the :class:`~invlearn.config.TrainConfig` fields, and
:func:`build_record` makes the run's one record (``TrainResult.to_dict()`` plus the run's context:
load time, peak memory, data sizes). ``python -m invlearn train --out`` writes that record, every
grid run writes it to ``runs/<id>.json``, and :func:`flat_row` makes it a row of ``results.csv``.

``run_grid`` runs many cells — several at a time, skipping finished runs, reporting failed ones
and going on — either in worker processes (``engine="python"``) or by executing a notebook the
caller names with papermill (``engine="papermill"``, the book's ``experiment.ipynb``). Where
runs execute is separate: ``executor="local"`` (a pool here) or ``executor="dask"`` (a Dask
cluster: a ``LocalCluster`` or a running scheduler's address); one iterator per executor yields
each run's outcome as it finishes, and resume, failures, progress and results are shared.
``run_study`` is a search on validation data followed by final runs over seeds; its spec is one
declared schema, :class:`StudySpec`, checked whole (every cell's settings too) before any run.
Every file is written atomically (:mod:`invlearn.io`).
"""
from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import itertools
import json
import logging
import os
import sys
import threading
import time
import traceback
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import (
    FIRST_COMPLETED,
    BrokenExecutor,
    Future,
    ProcessPoolExecutor,
    ThreadPoolExecutor,
    wait,
)
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm import tqdm

from .data import DATA_KEYS, check_data_keys, dataset_arguments
from .errors import InvlearnError, OutputError
from .io import read_json_record, write_csv_atomic, write_json_atomic, write_text_atomic

ENGINES = ("python", "papermill")
#: What a study writes in its folder (files and sub-folders).
STUDY_OUTPUTS = ("results.csv", "search.csv", "chosen.csv", "failures.json", "study.json",
                 "search", "final")
#: The columns of a table of no runs when no cell tells them (a CSV needs a header).
EMPTY_COLUMNS = ("dataset", "backbone", "method", "seed")
#: Where runs execute, this machine's process / thread pool or a Dask cluster.
EXECUTORS = ("local", "dask")


def config_fields() -> tuple[str, ...]:
    """The names of the TrainConfig fields, in declaration order (chapters 6–7)."""
    from .config import TrainConfig

    return tuple(f.name for f in dataclasses.fields(TrainConfig))


def run_id(params: Mapping[str, Any]) -> str:
    """A short stable name for a run: readable fields plus a hash of all
    parameters (chapters 6–7)."""
    text = json.dumps(dict(sorted(params.items())), sort_keys=True, default=str)
    digest = hashlib.sha1(text.encode()).hexdigest()[:10]
    name = "-".join(str(params.get(k, "")) for k in ("dataset", "backbone", "method", "seed"))
    return f"{name}-{digest}".replace("/", "_")


def check_params(params: Mapping[str, Any]):
    """Split ``params`` into data keys and a checked :class:`~invlearn.config.TrainConfig`;
    raise :class:`~invlearn.errors.InvlearnError` naming the key for anything unknown or out of
    range (chapters 6–7)."""
    from .config import TrainConfig

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
    static step for a method or pool it does not support (chapters 6–8)."""
    from .config import POOLS
    from .methods import METHOD_TABLE
    from .static import STATIC_METHODS

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
    if config.step == "static" and (config.method not in STATIC_METHODS
                                    or config.pool != "random"):
        raise InvlearnError(f"step 'static' supports methods {', '.join(STATIC_METHODS)} with "
                            f"the random pool, not {config.method} with pool {config.pool!r}; "
                            f"use step 'eager' or 'auto'")


def load_data(params: Mapping[str, Any]):
    """The split that run parameters describe (``dataset`` and its keys,
    ``seed``) (chapters 6–7)."""
    from .data import load_dataset

    keys, config = check_params(params)
    name, arguments = dataset_arguments(keys)
    data = load_dataset(name, seed=config.seed, **arguments)
    if name != "files" and keys.get("unlabeled") is not None:
        from .owndata import with_unlabeled

        data = with_unlabeled(data, keys["unlabeled"])
    return data


def peak_memory_mb() -> float | None:
    """This process's peak resident memory in MB (None where ``resource`` is
    missing) (chapters 6–7)."""
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
    ``optimizer`` even where the parameters leave it to its default) and the
    run's context (``seconds_load``, ``seconds_total``, ``peak_memory_mb``, ``data``
    sizes) (chapters 6–7)."""
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
    against the rows' true labels, where these are known — the simulated feed's truth, or the
    withheld labels of the ``hidden`` pool (chapters 7–8): ``annotation_first`` / ``_last`` (the
    first and last epoch), ``annotation_accuracy`` (the best validation epoch, whose model is
    kept) and ``pool_positive_share`` (the share of true positives among that epoch's rows: the
    all-positive annotator's accuracy; one minus it is the all-negative one's), and on the
    simulated feed ``pool_truth_share`` (that share by the simulator's truth: the hidden pool's
    labels are observed labels, noisy like every label). Empty for other
    methods and for pools with no truth (uniform random pairs of MovieLens)."""
    from .runs import annotation

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
    the run's record (:func:`build_record`); with ``return_result`` also the
    ``TrainResult`` (chapters 6–7)."""
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
    """The scalar entries of a run record: one row of ``results.csv`` (chapters 6–7)."""
    return {k: v for k, v in record.items()
            if v is None or isinstance(v, (str, int, float, bool, np.generic))}


def grid_cells(grid: Mapping[str, Iterable], base: Mapping[str, Any] | None = None) -> list[dict]:
    """Every combination of the ``grid``'s lists, each merged over ``base`` (chapters 6–7)."""
    keys = list(grid)
    values = [list(grid[k]) for k in keys]
    if any(len(v) == 0 for v in values):
        raise InvlearnError("grid: every entry needs at least one value")
    return [{**(base or {}), **dict(zip(keys, combo))} for combo in itertools.product(*values)]


def _die_with_parent() -> None:
    """Worker initializer: end this worker when the grid's process ends, even by ``kill -9``.

    On Linux the kernel sends SIGKILL when the parent dies (``prctl(PR_SET_PDEATHSIG)``);
    everywhere a daemon thread also checks every half second that the parent is still the
    same process (the parent is the grid, or a fork server that ends with it).
    """
    parent = os.getppid()
    if sys.platform.startswith("linux"):
        try:
            import ctypes
            import signal

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # 1 = PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="invlearn-parent-watch", daemon=True).start()


def _record_path(out_dir: str | os.PathLike, params: Mapping[str, Any]) -> Path:
    return Path(out_dir, "runs", f"{run_id(params)}.json")


def _run_notebook(params: dict, out_dir: str, notebook: str) -> dict:
    import papermill

    rid = run_id(params)
    result_path = _record_path(out_dir, params).resolve()
    papermill.execute_notebook(
        notebook, str(Path(out_dir, "notebooks", f"{rid}.ipynb")),
        parameters={"PARAMS": params, "RESULT_PATH": str(result_path)},
        cwd=str(Path(notebook).parent), kernel_name="python3", progress_bar=False)
    record = read_json_record(result_path)
    if record is None:
        raise InvlearnError(f"the notebook wrote no readable record to {result_path}")
    return record


def _run_python(params: dict, out_dir: str, notebook: str | None) -> dict:
    import torch

    torch.set_num_threads(int(params.get("threads") or 1))
    record = run_experiment(params)
    write_json_atomic(_record_path(out_dir, params), record)
    return record


def _finished(out: Path, cells: list[dict], say) -> list[dict]:
    """The cells still to run: no record, or a record that cannot be read (said via ``say``)."""
    todo = []
    for cell in cells:
        path = _record_path(out, cell)
        if not path.exists():
            todo.append(cell)
        elif read_json_record(path) is None:
            say(f"run {run_id(cell)}: record unreadable, running it again")
            todo.append(cell)
    return todo


def check_grid_call(cells: list[dict], jobs: int, engine: str,
                    notebook: str | os.PathLike | None, executor: str = "local",
                    scheduler: str | None = None) -> None:
    """Raise :class:`~invlearn.errors.InvlearnError` for a bad engine, ``jobs``, notebook,
    executor, scheduler or any bad cell (chapters 6–7)."""
    if engine not in ENGINES:
        raise InvlearnError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    if executor not in EXECUTORS:
        raise InvlearnError(f"executor must be one of {', '.join(EXECUTORS)}, got {executor!r}")
    if scheduler is not None:
        if executor != "dask":
            raise InvlearnError(f"a scheduler address applies only to the dask executor, "
                                f"not {executor!r}")
        if not isinstance(scheduler, str) or not scheduler.strip():
            raise InvlearnError(f"scheduler must be an address like tcp://host:8786, "
                                f"got {scheduler!r}")
    if executor == "dask":
        _distributed()  # imported only now; says how to install it if it is missing
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise InvlearnError(f"jobs must be a positive integer, got {jobs!r}")
    if engine == "papermill":
        if notebook is None:
            raise InvlearnError("the papermill engine needs the notebook to run (notebook=...)")
        if not Path(notebook).is_file():
            raise InvlearnError(f"notebook {notebook} does not exist (the papermill engine "
                                f"runs it once per cell; or use the python engine)")
    if not isinstance(cells, list):
        raise InvlearnError(f"cells must be a list of run parameter dicts, got "
                            f"{type(cells).__name__}")
    for k, cell in enumerate(cells):
        if not isinstance(cell, Mapping):
            raise InvlearnError(f"cells[{k}] must be a dict of run parameters, got "
                                f"{type(cell).__name__} {cell!r:.60}")
        try:
            check_params(cell)
        except InvlearnError as err:
            raise InvlearnError(f"run {run_id(cell)}: {err}") from None


def make_out_dir(out_dir: str | os.PathLike, subs: Iterable[str] = ()) -> Path:
    """Create the results folder ``out_dir`` and its ``subs``; raise
    :class:`~invlearn.errors.InvlearnError` naming it when it is a file or cannot be made
    (chapters 6–7)."""
    if not isinstance(out_dir, (str, os.PathLike)) or not str(out_dir).strip():
        raise InvlearnError(f"out_dir must name a folder, got {out_dir!r}")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InvlearnError(f"out_dir {out} is a file, not a folder")
    try:
        for sub in (".", *subs):
            (out / sub).mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise InvlearnError(f"cannot create the results folder {out}: {err.strerror}") from None
    return out


LOCK_NAME = ".invlearn.lock"


@contextlib.contextmanager
def folder_lock(out: Path) -> Iterator[None]:
    """Hold an exclusive lock (:func:`fcntl.flock` on ``out/.invlearn.lock``) while a grid or
    study writes into ``out``; raise :class:`~invlearn.errors.InvlearnError` at once when another
    process holds it, so that two grids never run the same cells into one folder. The kernel
    drops the lock when the process ends, even by ``kill -9`` (chapters 6–7)."""
    import fcntl

    path = out / LOCK_NAME
    try:
        handle = open(path, "a+", encoding="utf-8")  # noqa: SIM115 - held until the end
    except OSError as err:
        raise InvlearnError(f"cannot lock the results folder {out}: {err.strerror}") from None
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            raise InvlearnError(f"the results folder {out} is in use by another grid (process "
                                f"{holder}); wait for it to end or choose another folder") \
                from None
        except OSError as err:  # a file system without locks
            raise InvlearnError(f"cannot lock the results folder {out}: {err.strerror}") \
                from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _same_study(out: Path, study: StudySpec) -> None:
    """Keep the study's spec in ``out/study.json``; raise :class:`~invlearn.errors.InvlearnError`
    when the folder already holds a different study (its tables would be replaced)."""
    mine = json.loads(json.dumps(dataclasses.asdict(study), sort_keys=True))
    path = out / "study.json"
    if path.exists():
        theirs = read_json_record(path)
        if theirs != mine:
            keys = sorted(k for k in mine if theirs is None or theirs.get(k) != mine[k])
            raise InvlearnError(f"the results folder {out} holds another study (its "
                                f"{path.name} differs in {', '.join(keys) or 'its form'}); "
                                f"choose another folder, or remove it to start over")
        return
    write_json_atomic(path, mine)


def _error_text(err: BaseException) -> str:
    return "".join(traceback.format_exception_only(type(err), err)).strip()[-2000:]


def _local_results(fn, todo: list[dict], out: Path, jobs: int, engine: str,
                   notebook: str | None) -> Iterator[tuple[dict, Any]]:
    """The local executor: ``jobs`` threads (papermill) or worker processes (python) on this
    machine, each writing its run's record into ``out``; yield ``(cell, record or exception)``
    as runs finish, cells started in order; never more workers than runs."""
    if not todo:
        return
    jobs = min(jobs, len(todo))
    queue = list(todo)
    while queue:  # a new pool after a worker died (BrokenExecutor), for the runs not yet started
        if engine == "papermill":
            pool: Any = ThreadPoolExecutor(max_workers=jobs)
        else:
            pool = ProcessPoolExecutor(max_workers=jobs, initializer=_die_with_parent)
        with pool:
            running: dict[Future, dict] = {}
            broken = False
            while (queue and not broken) or running:
                while queue and not broken and len(running) < jobs:
                    try:
                        running[pool.submit(fn, queue[0], str(out), notebook)] = queue[0]
                    except BrokenExecutor:
                        broken = True
                        break
                    queue.pop(0)
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for fut in done:
                    cell, error = running.pop(fut), fut.exception()
                    if isinstance(error, BrokenExecutor):
                        broken = True
                        error = WorkerDied(f"the worker process of this run ended abruptly "
                                           f"(killed, e.g. by the out-of-memory killer) while "
                                           f"{len(running) + 1} run(s) were in flight; run the "
                                           f"grid again to retry it")
                    yield cell, error or fut.result()


class WorkerDied(RuntimeError):
    """A run whose worker process ended abruptly (a signal, the out-of-memory killer): recorded
    as a failure; the grid goes on in a new pool of workers (chapters 6–7)."""


def _in_scratch(fn, params: dict, notebook: str | None) -> dict[str, str]:
    """Run ``fn`` on a Dask worker into a scratch folder there and return what it wrote
    (``runs/<id>.json``, for papermill also ``notebooks/<id>.ipynb``) as relative path → text:
    the client writes the files, so workers need no file system shared with it."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="invlearn-run-") as scratch:
        for sub in ("runs", "notebooks"):
            Path(scratch, sub).mkdir()
        fn(params, scratch, notebook)
        return {str(p.relative_to(scratch)): p.read_text(encoding="utf-8")
                for p in sorted(Path(scratch).rglob("*")) if p.is_file()}


def _distributed():
    """The ``distributed`` module, or :class:`InvlearnError` saying how to install it."""
    try:
        import distributed
    except ImportError:
        raise InvlearnError("the dask executor needs dask.distributed: pip install "
                            "'invlearn[distributed]'") from None
    return distributed


def _dask_client(address: str):
    """A ``distributed.Client`` of the scheduler at ``address``, or :class:`InvlearnError`."""
    try:
        return _distributed().Client(address, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as err:
        raise InvlearnError(f"cannot reach the Dask scheduler at {address}: {err}") from None


@contextlib.contextmanager
def dask_scheduler(jobs: int, scheduler: str | None) -> Iterator[str]:
    """The address of ``scheduler``, or of a ``distributed.LocalCluster`` of ``jobs`` worker
    processes (one thread each) started here and closed on leaving. A given scheduler is
    reached once first, so that a wrong address fails before anything is written (chapters 6–7)."""
    if scheduler is not None:
        _dask_client(scheduler).close()
        yield scheduler
        return
    distributed = _distributed()
    with distributed.LocalCluster(n_workers=jobs, threads_per_worker=1, processes=True,
                                  dashboard_address=None, silence_logs=logging.CRITICAL
                                  ) as cluster:  # a failed run is reported once, below
        yield cluster.scheduler_address


def _dask_results(fn, todo: list[dict], out: Path, jobs: int, engine: str,
                  notebook: str | None, scheduler: str | None) -> Iterator[tuple[dict, Any]]:
    """The Dask executor: every cell submitted to ``scheduler`` (or a LocalCluster of ``jobs``
    workers); each run's files come back and are written here atomically; yield
    ``(cell, record or exception)`` as runs finish."""
    if not todo:
        return
    distributed = _distributed()
    with dask_scheduler(jobs, scheduler) as address, _dask_client(address) as client:
        running = {client.submit(_in_scratch, fn, cell, notebook, pure=False): cell
                   for cell in todo}
        try:
            for fut in distributed.as_completed(list(running), loop=client.loop):
                cell = running.pop(fut)
                if fut.status != "finished":  # the run's own error, sent back by Dask
                    yield cell, fut.exception()
                    continue
                try:
                    for name, text in fut.result().items():
                        write_text_atomic(out / name, text)
                except OutputError as err:  # a full disk: this run failed, the others go on
                    yield cell, err
                    continue
                yield cell, read_json_record(_record_path(out, cell))
        finally:
            client.cancel(list(running))


def _execute(todo: list[dict], out: Path, jobs: int, engine: str, notebook: str | None,
             bar: tqdm, executor: str = "local", scheduler: str | None = None) -> dict:
    """Run the cells on the ``executor``; return the failures by run id."""
    fn = _run_notebook if engine == "papermill" else _run_python
    if executor == "dask":
        results = _dask_results(fn, todo, out, jobs, engine, notebook, scheduler)
    else:
        results = _local_results(fn, todo, out, jobs, engine, notebook)
    failures: dict[str, dict] = {}
    for cell, result in results:
        if isinstance(result, BaseException):
            failures[run_id(cell)] = {"params": cell, "error": _error_text(result)}
            bar.write(f"run {run_id(cell)} failed: {failures[run_id(cell)]['error']}",
                      file=sys.stderr)
        bar.update(1)
    return failures


def run_grid(cells: list[dict], out_dir: str | os.PathLike, jobs: int = 1,
             engine: str = "python", notebook: str | os.PathLike | None = None,
             progress: bool = True, executor: str = "local",
             scheduler: str | None = None) -> pd.DataFrame:
    """Run every cell (skipping those with a readable record in ``out_dir/runs``), ``jobs`` at
    a time, and write ``out_dir/results.csv`` with one row per finished run (chapters 6–7).

    Every cell is checked before any run starts, and ``out_dir`` is locked while the grid runs
    (:func:`folder_lock`). A worker killed mid-run (e.g. out of memory) fails the runs it had
    in flight and the grid goes on in new workers. ``engine="papermill"`` executes ``notebook``
    (required; the book's ``experiment.ipynb``) once per cell. A failed run is reported with
    its error in ``out_dir/failures.json`` and the others go on; the returned table's
    ``attrs["failures"]`` holds the failures by run id.

    ``executor`` says where runs execute: ``"local"``, a pool of ``jobs`` processes (python)
    or threads (papermill) here; ``"dask"``, the Dask cluster whose scheduler is at
    ``scheduler`` (``"tcp://host:8786"``; its workers need ``invlearn`` installed, and the
    notebook at the same path for papermill), or without one a ``LocalCluster`` of ``jobs``
    worker processes. Under Dask each run's files come back to this process and are written
    here, so no shared file system is needed. Resume, failures and results are the same.
    """
    check_grid_call(cells, jobs, engine, notebook, executor, scheduler)
    out = make_out_dir(out_dir)
    with folder_lock(out):
        make_out_dir(out, ("runs", "notebooks") if engine == "papermill" else ("runs",))
        return _grid(cells, out, jobs, engine, notebook, progress, executor, scheduler)


def _grid(cells: list[dict], out: Path, jobs: int, engine: str,
          notebook: str | os.PathLike | None, progress: bool, executor: str,
          scheduler: str | None) -> pd.DataFrame:
    """:func:`run_grid` once its folder is made and locked."""
    bar = tqdm(total=len(cells), desc="grid", disable=not progress, file=sys.stderr)
    todo = _finished(out, cells, lambda text: bar.write(text, file=sys.stderr))
    bar.update(len(cells) - len(todo))
    start = time.perf_counter()
    nb = None if notebook is None else str(Path(notebook).resolve())
    failures = _execute(todo, out, jobs, engine, nb, bar, executor, scheduler)
    bar.close()
    write_json_atomic(out / "failures.json", failures)
    table = collect(out, cells)
    write_csv_atomic(out / "results.csv", table)
    table.attrs["failures"] = failures
    if progress:
        print(f"grid: {len(table)} of {len(cells)} runs finished ({len(todo)} run now, "
              f"{len(failures)} failed) in {time.perf_counter() - start:.0f} s; "
              f"results in {out / 'results.csv'}", file=sys.stderr)
    return table


def collect(out_dir: str | os.PathLike, cells: list[dict] | None = None) -> pd.DataFrame:
    """The finished runs' rows (of ``cells``, or all in ``out_dir/runs``) as one table;
    unreadable records are left out (chapters 6–7)."""
    runs = Path(out_dir) / "runs"
    paths = ([_record_path(out_dir, c) for c in cells] if cells is not None
             else sorted(runs.glob("*.json")))
    records = (read_json_record(p) for p in paths)
    rows = [flat_row(r) for r in records if r is not None]
    if rows:
        return pd.DataFrame(rows)
    columns = dict.fromkeys(k for c in cells or [] for k in c) or dict.fromkeys(EMPTY_COLUMNS)
    return pd.DataFrame(columns=list(columns))  # a header, so that the CSV can be read back


def choose_best(table: pd.DataFrame, group: list[str], searched: list[str],
                by: str = "valid_auc") -> pd.DataFrame:
    """For each ``group`` (e.g. dataset × backbone × method), the ``searched`` settings with the
    best validation score ``by`` (validation data only: test metrics are never looked
    at) (chapters 6–7)."""
    if table.empty or by not in table.columns:
        return pd.DataFrame(columns=group + searched + [by])
    scored = table[table[by].notna()]
    if scored.empty:
        return pd.DataFrame(columns=group + searched + [by])
    best = scored.loc[scored.groupby(group, dropna=False)[by].idxmax()]
    return best[group + searched + [by]].reset_index(drop=True)


def _original(value: Any, search: Mapping[str, Mapping[str, list]]) -> Any:
    """The value as written in the search space (a table turns 4 into 4.0)."""
    for space in search.values():
        for values in space.values():
            for v in values:
                if v == value and type(v) is not bool:
                    return v
    return value.item() if hasattr(value, "item") else value


@dataclasses.dataclass(frozen=True)
class StudySpec:
    """The one schema of a grid spec (``python -m invlearn grid --spec``, chapters 6–7).

    ``base``: parameters of every run. ``grid``: parameter → non-empty list of values (must
    include ``method``; a single value is still a list). ``search``: method name or ``"*"`` →
    setting → list of values tried on validation data. ``search_on``: grid key → value limiting
    the search to matching cells. ``search_seed``: the search's seed. ``seeds``: distinct
    seeds of the final runs (``[]`` for a search-only study). ``ablate``: method → settings;
    each final run of that method gets a twin at the chosen settings overridden by these —
    ``{"ig": {"alpha_ratio": 0}}`` puts IG beside itself with its move switched off (chapter 5).
    ``exclude``: partial cells (grid key → value) left out of the grid, e.g.
    ``{"label_fraction": 1.0, "pool": "hidden"}`` (chapter 8). ``tuning``: equal tuning (chapter
    8), ``{"settings": N, "seed": S}``: every learned method gets exactly N searched settings in
    every searched cell (N ≥ 6, ``lr`` among the searched keys; a larger grid of a method's
    settings is subsampled with seed S), and ``search_seed`` must not be a final seed. The
    scores that learn nothing (popularity, item_mean) are never searched: they run once per
    searched cell. Build it with :func:`parse_spec`.
    """

    grid: dict[str, list]
    base: dict[str, Any] = dataclasses.field(default_factory=dict)
    search: dict[str, dict[str, list]] = dataclasses.field(default_factory=dict)
    search_on: dict[str, Any] = dataclasses.field(default_factory=dict)
    search_seed: int = 0
    seeds: list[int] = dataclasses.field(default_factory=lambda: [0, 1, 2])
    ablate: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    exclude: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    tuning: dict[str, int] | None = None


#: Equal tuning, the fewest settings each learned method may get (chapter 8).
MIN_TUNED_SETTINGS = 6


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _need(value: Any, kind: type, where: str, shape: str) -> Any:
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        raise InvlearnError(f"spec {where} must be {shape}, got {_kind(value)} {value!r:.60}")
    return value


def _values(value: Any, where: str) -> list:
    """A non-empty list of distinct JSON scalars."""
    _need(value, list, where, "a non-empty list of values")
    if not value:
        raise InvlearnError(f"spec {where} must be a non-empty list of values, got []")
    for v in value:
        if isinstance(v, (list, dict)):
            raise InvlearnError(f"spec {where} must hold plain values, got {_kind(v)} {v!r:.60}")
    if len({(isinstance(v, bool), v) for v in value}) < len(value):  # 1 and 1.0 are one
        raise InvlearnError(f"spec {where} lists a value twice: {value!r:.80}")
    return value


def _known(key: Any, where: str) -> None:
    if key not in DATA_KEYS and key not in config_fields():
        raise InvlearnError(f"spec {where}: unknown parameter {key!r}; known: "
                            f"{', '.join(DATA_KEYS)} and the TrainConfig fields")


def _not_seed(key: str, where: str) -> None:
    if key == "seed":
        raise InvlearnError(f"spec {where}: \"seed\" would be replaced by each run's seed; "
                            f"put seeds in \"seeds\" and \"search_seed\"")


def _seed(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**63:
        raise InvlearnError(f"spec {where} must be a non-negative integer, got {value!r:.60}")
    return value


def _parse_search(search: Any, grid: Mapping[str, list]) -> dict[str, dict[str, list]]:
    from .config import ALL_METHODS as METHODS
    from .config import METHOD_SETTINGS

    _need(search, dict, '"search"', "an object: method or \"*\" → {setting: [values]}")
    for method, space in search.items():
        if method != "*" and method not in METHODS:
            raise InvlearnError(f"spec \"search\": {method!r} is not a method or \"*\"; "
                                f"methods: {', '.join(METHODS)}")
        if method != "*" and method not in grid["method"]:
            raise InvlearnError(f"spec \"search\": {method!r} is not a method of \"grid\"")
        _need(space, dict, f'"search"."{method}"', "an object: setting → [values]")
        for key, values in space.items():
            _known(key, f'"search"."{method}"')
            if key in ("method", "seed") or key in DATA_KEYS:
                raise InvlearnError(f"spec \"search\".\"{method}\": {key!r} cannot be searched")
            if key in grid:
                raise InvlearnError(f"spec \"search\".\"{method}\": {key!r} is also a key of "
                                    f"\"grid\"; vary it in one of them")
            if method != "*" and method not in METHOD_SETTINGS.get(key, (method,)):
                raise InvlearnError(f"spec \"search\".\"{method}\": {method} does not read "
                                    f"{key!r}, so every value would give the same run")
            _values(values, f'"search"."{method}"."{key}"')
    return search


def parse_spec(spec: Any) -> StudySpec:
    """Check a study spec's shape against :class:`StudySpec`; every error names the
    key (chapters 6–8)."""
    _need(spec, dict, "", "a JSON object with \"grid\" (and \"base\", \"search\", "
          "\"search_on\", \"search_seed\", \"seeds\", \"ablate\", \"exclude\", "
          "\"tuning\")")
    names = [f.name for f in dataclasses.fields(StudySpec)]
    unknown = sorted(set(spec) - set(names))
    if unknown:
        raise InvlearnError(f"spec: unknown key(s) {', '.join(map(repr, unknown))}; "
                            f"known: {', '.join(names)}")
    if "grid" not in spec:
        raise InvlearnError("spec: \"grid\" is missing (an object of lists, with \"method\")")
    grid = _need(spec["grid"], dict, '"grid"', "an object: parameter → [values]")
    if "method" not in grid:
        raise InvlearnError("spec \"grid\" needs \"method\": the list of methods to compare")
    for key, values in grid.items():
        _known(key, '"grid"')
        if key == "seed":
            raise InvlearnError("spec \"grid\": put seeds in \"seeds\" and \"search_seed\"")
        _values(values, f'"grid"."{key}"')
    base = _need(spec.get("base", {}), dict, '"base"', "an object: parameter → value")
    for key in base:
        _known(key, '"base"')
        _not_seed(key, '"base"')
    scope = _need(spec.get("search_on", {}), dict, '"search_on"', "an object: grid key → value")
    for key in scope:
        if key not in grid:
            raise InvlearnError(f"spec \"search_on\": {key!r} is not a key of \"grid\"")
    seeds = _need(spec.get("seeds", [0, 1, 2]), list, '"seeds"', "a list of integers")
    for s in seeds:
        _seed(s, '"seeds"')
    if len(set(seeds)) < len(seeds):
        raise InvlearnError(f"spec \"seeds\" lists a seed twice: {seeds!r:.80}")
    ablate = _need(spec.get("ablate", {}), dict, '"ablate"', "an object: method → {setting: "
                   "value}")
    for method, settings in ablate.items():
        if method not in grid["method"]:
            raise InvlearnError(f"spec \"ablate\": {method!r} is not a method of \"grid\"")
        _need(settings, dict, f'"ablate"."{method}"', "an object: setting → value")
        for key in settings:
            _known(key, f'"ablate"."{method}"')
            _not_seed(key, f'"ablate"."{method}"')
    exclude = _need(spec.get("exclude", []), list, '"exclude"', "a list of partial cells")
    for k, part in enumerate(exclude):
        _need(part, dict, f'"exclude"[{k}]', "an object: grid key → value")
        for key, value in part.items():
            if key not in grid:
                raise InvlearnError(f"spec \"exclude\"[{k}]: {key!r} is not a key of \"grid\"")
            if value not in grid[key]:
                raise InvlearnError(f"spec \"exclude\"[{k}]: {key}={value!r:.40} is not a value "
                                    f"of \"grid\".\"{key}\", so it excludes nothing")
    study = StudySpec(grid=grid, base=base, search=_parse_search(spec.get("search", {}), grid),
                      search_on=scope, search_seed=_seed(spec.get("search_seed", 0),
                                                         '"search_seed"'),
                      seeds=seeds, ablate=ablate, exclude=exclude)
    if "tuning" in spec:
        study = dataclasses.replace(study, tuning=_parse_tuning(spec["tuning"], study))
    return study


def _parse_tuning(tuning: Any, study: StudySpec) -> dict[str, int]:
    """Check ``"tuning"`` (equal tuning, chapter 8) against the study it belongs to."""
    _need(tuning, dict, '"tuning"', 'an object {"settings": N, "seed": S}')
    unknown = sorted(set(tuning) - {"settings", "seed"})
    missing = sorted({"settings", "seed"} - set(tuning))
    if unknown or missing:
        raise InvlearnError(f"spec \"tuning\" takes exactly \"settings\" and \"seed\"; "
                            f"unknown {unknown}, missing {missing}")
    n = _seed(tuning["settings"], '"tuning"."settings"')
    if n < MIN_TUNED_SETTINGS:
        raise InvlearnError(f"spec \"tuning\".\"settings\" must be at least "
                            f"{MIN_TUNED_SETTINGS}, got {n}")
    _seed(tuning["seed"], '"tuning"."seed"')
    if study.search_seed in study.seeds:
        raise InvlearnError(f"spec \"search_seed\" {study.search_seed} is also a final seed in "
                            f"\"seeds\": with equal tuning the settings must be chosen on a seed "
                            f"no final run uses")
    for method in study.grid["method"]:
        if method in _scores():
            continue
        space = _space(study, method)
        if "lr" not in space:
            raise InvlearnError(f"spec \"tuning\": the method {method!r} does not search "
                                f"\"lr\"; equal tuning searches the learning rate of every "
                                f"learned method (put it in \"search\".\"*\")")
        count = len(grid_cells(space))
        if count < n:
            raise InvlearnError(f"spec \"tuning\": the method {method!r} has {count} settings "
                                f"in \"search\", fewer than the {n} every method gets")
    return {"settings": n, "seed": tuning["seed"]}


def _scores() -> tuple[str, ...]:
    from .config import SCORES

    return SCORES


def _space(study: StudySpec, method: str) -> dict[str, list]:
    """The search space of one method: ``"*"``'s settings overridden by the method's own."""
    return {**study.search.get("*", {}), **study.search.get(method, {})}


def method_settings(study: StudySpec, method: str) -> list[dict]:
    """The settings searched for ``method`` (chapters 6–8): every combination of its search
    space; with equal tuning (``study.tuning``) exactly ``settings`` of them, drawn without
    replacement with the tuning seed (the same draw in every cell, kept in grid order). The
    scores that learn nothing (popularity, item_mean) have one empty setting: they search
    nothing (item_mean chooses its prior strength on validation itself)."""
    if method in _scores():
        return [{}]
    space = _space(study, method)
    options = grid_cells(space) if space else [{}]
    if study.tuning is not None:
        from .config import ALL_METHODS

        n, seed = study.tuning["settings"], study.tuning["seed"]
        rng = np.random.default_rng([seed, ALL_METHODS.index(method)])
        options = [options[k] for k in np.sort(rng.choice(len(options), n, replace=False))]
    return options


def study_cells(spec: StudySpec) -> list[dict]:
    """The grid's cells over ``base`` except those matching an ``exclude`` entry (chapters 6–8)."""
    return [cell for cell in grid_cells(spec.grid, spec.base)
            if not any(all(cell.get(k) == v for k, v in part.items()) for part in spec.exclude)]


def search_cells(spec: StudySpec) -> list[dict]:
    """The search's runs: each grid cell in ``search_on`` × its method's search
    space (chapters 6–7)."""
    cells: list[dict] = []
    if not spec.search:  # nothing to choose: the study is its final runs
        return cells
    for cell in study_cells(spec):
        if any(cell.get(k) != v for k, v in spec.search_on.items()):
            continue
        for option in method_settings(spec, cell["method"]):
            cells.append({**cell, **option, "seed": spec.search_seed})
    return cells


def check_spec(spec: StudySpec) -> None:
    """Check every run the study could make (all search settings on every cell and
    seed) (chapters 6–7)."""
    if not study_cells(spec):
        raise InvlearnError("spec \"exclude\" removes every grid cell; nothing would run")
    if spec.search and not search_cells(spec):
        raise InvlearnError(f"spec \"search_on\" {spec.search_on!r} matches no grid cell")
    for cell in study_cells(spec):
        for option in method_settings(spec, cell["method"]):
            twin = spec.ablate.get(cell["method"], {})
            for seed in [spec.search_seed, *spec.seeds]:
                try:
                    check_params({**cell, **option, "seed": seed})
                    check_params({**cell, **option, **twin, "seed": seed})
                except InvlearnError as err:
                    raise InvlearnError(f"spec: the run {_describe(cell, option)} is bad: "
                                        f"{err}") from None


def _describe(cell: Mapping[str, Any], option: Mapping[str, Any]) -> str:
    keys = {**cell, **option}
    return ", ".join(f"{k}={v!r}" for k, v in keys.items())[:200]


def _final_cells(spec: StudySpec, chosen: pd.DataFrame, group: list[str],
                 present: list[str]) -> tuple[list[dict], list[dict]]:
    """The final runs with each cell's chosen settings, and the cells that have none."""
    finals, failed = [], []
    for cell in study_cells(spec):
        row = chosen
        for k in group:
            row = row[row[k] == cell[k]]
        if row.empty:
            failed.append({k: cell[k] for k in group})
            continue
        setting = {k: _original(row.iloc[0][k], spec.search) for k in present
                   if pd.notna(row.iloc[0][k])}
        twin = spec.ablate.get(cell["method"])
        for seed in spec.seeds:
            finals.append({**cell, **setting, "seed": seed})
            if twin:  # the same run with the ablated settings (e.g. IG at alpha_ratio 0)
                finals.append({**cell, **setting, **twin, "seed": seed})
    order = {s: i for i, s in enumerate(spec.seeds)}
    finals.sort(key=lambda c: order[c["seed"]])  # seed by seed: all cells at the first seed
    return finals, failed


def run_study(spec: StudySpec | Mapping[str, Any], out_dir: str | os.PathLike, jobs: int = 1,
              engine: str = "python", notebook: str | os.PathLike | None = None,
              progress: bool = True, executor: str = "local",
              scheduler: str | None = None) -> pd.DataFrame:
    """A search on validation data, then the final runs over seeds with the chosen settings
    (chapters 6 and 7).

    ``spec`` is a :class:`StudySpec` or a dict for :func:`parse_spec`. With ``search_on`` the
    search runs only on the grid cells matching it and each method's chosen settings are used
    for every cell; without it, every cell gets its own search. Final runs go seed by seed, so
    an interrupted study still covers the whole grid. Writes ``search.csv``, ``chosen.csv``,
    ``results.csv`` (final runs, with a ``search_seed`` column: the seed their settings were
    chosen on) and ``failures.json`` (failed runs, and ``failed_cells``:
    cells whose search runs all failed) in ``out_dir``. The returned table's
    ``attrs["failed"]`` counts failed runs and cells. While it runs, ``out_dir`` is locked
    (:func:`folder_lock`: a second grid into it is refused), and its ``study.json`` keeps the
    spec, so a later call with a different spec is refused rather than replacing the first
    study's tables; the same spec resumes. ``executor`` and ``scheduler`` are
    :func:`run_grid`'s; a LocalCluster (dask without a scheduler) serves search and final runs.
    """
    study = spec if isinstance(spec, StudySpec) else parse_spec(spec)
    check_spec(study)
    check_grid_call([], jobs, engine, notebook, executor, scheduler)
    if Path(out_dir).exists() and not Path(out_dir).is_dir():
        raise InvlearnError(f"out_dir {out_dir} is a file, not a folder")
    with (dask_scheduler(jobs, scheduler) if executor == "dask"
          else contextlib.nullcontext(scheduler)) as address:
        out = make_out_dir(out_dir)
        with folder_lock(out):
            _same_study(out, study)
            return _study(study, out, jobs, engine, notebook, progress, executor, address)


def _study(study: StudySpec, out: Path, jobs: int, engine: str,
           notebook: str | os.PathLike | None, progress: bool, executor: str,
           scheduler: str | None) -> pd.DataFrame:
    """:func:`run_study` once the executor is ready."""
    where = {"executor": executor, "scheduler": scheduler}
    if not study.search:  # no settings to choose: every cell runs as written, seed by seed
        cells = [{**cell, "seed": seed} for seed in study.seeds for cell in study_cells(study)]
        cells += [{**cell, **study.ablate[cell["method"]], "seed": seed} for seed in study.seeds
                  for cell in study_cells(study) if cell["method"] in study.ablate]
        final = run_grid(cells, out / "final", jobs, engine, notebook, progress, **where)
        write_csv_atomic(out / "results.csv", final)
        write_json_atomic(out / "failures.json", {"search": [], "final": final.attrs["failures"],
                                                  "failed_cells": []})
        final.attrs["failed"] = len(final.attrs["failures"])
        return final
    table = run_grid(search_cells(study), out / "search", jobs, engine, notebook, progress,
                     **where)
    write_csv_atomic(out / "search.csv", table)
    scope = study.search_on
    group = [k for k in study.grid if k not in scope]
    searched = sorted({k for s in study.search.values() for k in s})
    present = [k for k in searched if k in table.columns]
    chosen = choose_best(table, group, present)
    write_csv_atomic(out / "chosen.csv", chosen)
    finals, failed_cells = _final_cells(study, chosen, group, present)
    for cell in failed_cells:
        print(f"cell {cell}: every search run failed; no final runs", file=sys.stderr)
    final = run_grid(finals, out / "final", jobs, engine, notebook, progress, **where)
    if not final.empty:  # the seed the settings were chosen on, beside each final run's own
        final["search_seed"] = study.search_seed
    write_csv_atomic(out / "results.csv", final)
    failures = {"search": table.attrs["failures"], "final": final.attrs["failures"],
                "failed_cells": failed_cells}
    write_json_atomic(out / "failures.json", failures)
    final.attrs["failed"] = (len(failures["search"]) + len(failures["final"])
                             + len(failed_cells))
    return final
