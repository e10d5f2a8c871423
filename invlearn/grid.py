"""The grid executor: many runs with resume, several at a time, failures reported.

What a run is (the engine: python or papermill) and where it executes (the executor: local or
dask) are separate; one iterator per executor yields each run's outcome as it finishes, and
resume, failures, progress and results are shared (:func:`run_grid`). Each run is
:func:`invlearn.record.run_experiment`; every file is written atomically (:mod:`invlearn.io`).
"""
from __future__ import annotations

import contextlib
import itertools
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

import pandas as pd
from tqdm import tqdm

from .errors import InvlearnError, OutputError, check_int
from .io import read_json_record, write_csv_atomic, write_json_atomic, write_text_atomic
from .record import check_params, flat_row, run_experiment, run_id

ENGINES = ("python", "papermill")
#: The columns of a table of no runs when no cell tells them (a CSV needs a header).
EMPTY_COLUMNS = ("dataset", "backbone", "method", "seed")
#: Where runs execute, this machine's process / thread pool or a Dask cluster.
EXECUTORS = ("local", "dask")


def grid_cells(grid: Mapping[str, Iterable], base: Mapping[str, Any] | None = None) -> list[dict]:
    """Every combination of the ``grid``'s lists, each merged over ``base``."""
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
    executor, scheduler or any bad cell."""
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
    check_int(jobs, "jobs")
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
    :class:`~invlearn.errors.InvlearnError` naming it when it is a file or cannot be made."""
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
    drops the lock when the process ends, even by ``kill -9``."""
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
    as a failure; the grid goes on in a new pool of workers."""


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
    reached once first, so that a wrong address fails before anything is written."""
    if scheduler is not None:
        _dask_client(scheduler).close()
        yield scheduler
        return
    distributed = _distributed()
    with distributed.LocalCluster(n_workers=jobs, threads_per_worker=1, processes=True,
                                  dashboard_address=None, silence_logs=logging.CRITICAL
                                  ) as cluster:  # a failed run is reported once, below
        yield cluster.scheduler_address


def _dask_results(fn, todo: list[dict], out: Path, jobs: int, notebook: str | None,
                  scheduler: str | None) -> Iterator[tuple[dict, Any]]:
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
        results = _dask_results(fn, todo, out, jobs, notebook, scheduler)
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
    a time, and write ``out_dir/results.csv`` with one row per finished run.

    Every cell is checked before any run starts, and ``out_dir`` is locked while the grid runs
    (:func:`folder_lock`). ``engine="papermill"`` executes ``notebook`` (the book's
    ``experiment.ipynb``) once per cell. A failed run, or one whose worker was killed (e.g. out
    of memory), is reported with its error in ``out_dir/failures.json`` and the others go on;
    the returned table's ``attrs["failures"]`` holds the failures by run id.

    ``executor="local"`` runs a pool of ``jobs`` processes (python) or threads (papermill) here;
    ``"dask"`` the Dask cluster whose scheduler is at ``scheduler`` (``"tcp://host:8786"``; its
    workers need ``invlearn``, and the notebook at the same path for papermill), or else a
    ``LocalCluster`` of ``jobs`` workers. Each run's files come back to this process and are
    written here, so no shared file system is needed.
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
    unreadable records are left out."""
    runs = Path(out_dir) / "runs"
    paths = ([_record_path(out_dir, c) for c in cells] if cells is not None
             else sorted(runs.glob("*.json")))
    records = (read_json_record(p) for p in paths)
    rows = [flat_row(r) for r in records if r is not None]
    if rows:
        return pd.DataFrame(rows)
    columns = dict.fromkeys(k for c in cells or [] for k in c) or dict.fromkeys(EMPTY_COLUMNS)
    return pd.DataFrame(columns=list(columns))  # a header, so that the CSV can be read back
