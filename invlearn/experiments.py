"""Experiments: one run as a dict of parameters, and a grid of runs with resume (chapters 6–7).

``run_experiment(params)`` is what ``book/experiment.ipynb`` calls: it loads the data, trains,
and returns a flat JSON-ready result (test metrics, best epoch, seconds per epoch, annotation
accuracy when the truth is known, the parameters). ``run_grid`` executes that notebook with
papermill once per cell of a grid — several at a time, skipping finished runs, reporting failed
ones and going on — and writes one tidy CSV of all results. ``engine="python"`` runs
``run_experiment`` in worker processes instead of notebooks (same numbers, less overhead; used
where papermill is not installed, e.g. on a rented GPU machine).
"""
from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import os
import time
import traceback
from collections.abc import Iterable, Mapping
from concurrent.futures import (
    FIRST_COMPLETED,
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

from .errors import InvlearnError

NOTEBOOK = Path(__file__).resolve().parent.parent / "book" / "experiment.ipynb"
DATA_KEYS = ("dataset", "sim_size", "data_home")


def _config_fields() -> set[str]:
    from .methods import TrainConfig

    return {f.name for f in dataclasses.fields(TrainConfig)}


def run_id(params: Mapping[str, Any]) -> str:
    """A short stable name for a run: readable fields plus a hash of all parameters."""
    text = json.dumps(dict(sorted(params.items())), sort_keys=True, default=str)
    digest = hashlib.sha1(text.encode()).hexdigest()[:10]
    name = "-".join(str(params.get(k, "")) for k in ("dataset", "backbone", "method", "seed"))
    return f"{name}-{digest}".replace("/", "_")


def run_experiment(params: Mapping[str, Any], progress: bool = False,
                   return_result: bool = False) -> dict | tuple[dict, Any]:
    """Train one run described by ``params`` (dataset keys plus TrainConfig fields).

    Returns a flat dict: the parameters, the test metrics by name, ``best_epoch``,
    ``seconds_per_epoch``, ``epochs_run``, the validation AUC of the chosen epoch, and for the
    simulated feed with IDL / IG the annotation accuracy of the first and last epoch.
    """
    from .data import load_dataset
    from .methods import TrainConfig, train

    params = dict(params)
    unknown = set(params) - _config_fields() - set(DATA_KEYS)
    if unknown:
        raise InvlearnError(f"unknown experiment parameter(s) {sorted(unknown)}")
    extra = {"size": params["sim_size"]} if params.get("dataset", "sim") == "sim" else {}
    data = load_dataset(params.get("dataset", "sim"), seed=int(params.get("seed", 0)),
                        data_home=params.get("data_home"), **extra)
    config = TrainConfig(**{k: v for k, v in params.items() if k in _config_fields()})
    result = train(data, config, progress=progress)
    out = {**params, **result.metrics, "best_epoch": result.best_epoch,
           "epochs_run": int(result.history.epochs[-1]["epoch"]),
           "seconds_per_epoch": result.seconds_per_epoch,
           "valid_auc": result.valid.get("auc"), "valid_bce": result.valid.get("bce")}
    if data.truth is not None and result.history.weights:
        acc = result.history.annotation_accuracy(data.truth)
        out["annotation_first"] = float(acc.iloc[0])
        out["annotation_last"] = float(acc.iloc[-1])
    if result.history.meta is not None:
        from .methods import meta_summary

        summary = meta_summary(result.history.meta)
        summary.pop("directions")
        out.update(summary)
    out = {k: (float(v) if isinstance(v, np.floating) else v) for k, v in out.items()}
    return (out, result) if return_result else out


def grid_cells(grid: Mapping[str, Iterable], base: Mapping[str, Any] | None = None) -> list[dict]:
    """Every combination of the ``grid``'s lists, each merged over ``base``."""
    keys = list(grid)
    values = [list(grid[k]) for k in keys]
    if any(len(v) == 0 for v in values):
        raise InvlearnError("grid: every entry needs at least one value")
    return [{**(base or {}), **dict(zip(keys, combo))} for combo in itertools.product(*values)]


def _run_notebook(params: dict, out_dir: str, notebook: str) -> dict:
    import papermill

    rid = run_id(params)
    result_path = Path(out_dir, "runs", f"{rid}.json").resolve()
    papermill.execute_notebook(
        notebook, str(Path(out_dir, "notebooks", f"{rid}.ipynb")),
        parameters={"PARAMS": params, "RESULT_PATH": str(result_path)},
        cwd=str(Path(notebook).parent), kernel_name="python3", progress_bar=False)
    return json.loads(result_path.read_text())


def _run_python(params: dict, out_dir: str, notebook: str) -> dict:
    import torch

    torch.set_num_threads(int(params.get("threads") or 1))
    result = run_experiment(params)
    path = Path(out_dir, "runs", f"{run_id(params)}.json")
    path.write_text(json.dumps(result, indent=1))
    return result


def run_grid(cells: list[dict], out_dir: str | os.PathLike, jobs: int = 1,
             engine: str = "papermill", notebook: str | os.PathLike = NOTEBOOK,
             progress: bool = True) -> pd.DataFrame:
    """Run every cell (skipping those with a result already in ``out_dir/runs``), ``jobs`` at
    a time, and write ``out_dir/results.csv`` with one row per finished run. A failed run is
    reported with its error in ``out_dir/failures.json`` and the others go on."""
    if engine not in ("papermill", "python"):
        raise InvlearnError(f"engine must be 'papermill' or 'python', got {engine!r}")
    if jobs < 1:
        raise InvlearnError(f"jobs must be a positive integer, got {jobs}")
    out = Path(out_dir)
    for sub in ("runs", "notebooks"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    todo = [c for c in cells if not (out / "runs" / f"{run_id(c)}.json").exists()]
    fn = _run_notebook if engine == "papermill" else _run_python
    failures = {}
    pool_type = ThreadPoolExecutor if engine == "papermill" else ProcessPoolExecutor
    bar = tqdm(total=len(cells), initial=len(cells) - len(todo), desc="grid",
               disable=not progress)
    start = time.perf_counter()
    with pool_type(max_workers=jobs) as pool:
        running: dict[Future, dict] = {}
        queue = list(todo)
        while queue or running:
            while queue and len(running) < jobs:
                cell = queue.pop(0)
                running[pool.submit(fn, cell, str(out), str(notebook))] = cell
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for fut in done:
                cell = running.pop(fut)
                err = fut.exception()
                if err is not None:
                    failures[run_id(cell)] = {"params": cell, "error": "".join(
                        traceback.format_exception_only(type(err), err)).strip()[-2000:]}
                    bar.write(f"run {run_id(cell)} failed: {failures[run_id(cell)]['error']}")
                bar.update(1)
    bar.close()
    (out / "failures.json").write_text(json.dumps(failures, indent=1, default=str))
    table = collect(out, cells)
    table.to_csv(out / "results.csv", index=False)
    if progress:
        print(f"grid: {len(table)} of {len(cells)} runs finished ({len(todo)} run now, "
              f"{len(failures)} failed) in {time.perf_counter() - start:.0f} s; "
              f"results in {out / 'results.csv'}")
    return table


def collect(out_dir: str | os.PathLike, cells: list[dict] | None = None) -> pd.DataFrame:
    """The finished runs' results (of ``cells``, or all in ``out_dir/runs``) as one table."""
    runs = Path(out_dir) / "runs"
    names = ([f"{run_id(c)}.json" for c in cells] if cells is not None
             else sorted(p.name for p in runs.glob("*.json")))
    rows = [json.loads((runs / n).read_text()) for n in names if (runs / n).exists()]
    return pd.DataFrame(rows)


def choose_best(table: pd.DataFrame, group: list[str], searched: list[str],
                by: str = "valid_auc") -> pd.DataFrame:
    """For each ``group`` (e.g. dataset × backbone × method), the ``searched`` settings with the
    best validation score ``by`` (validation data only: test metrics are never looked at)."""
    best = table.loc[table.groupby(group, dropna=False)[by].idxmax()]
    return best[group + searched + [by]].reset_index(drop=True)


def _original(value: Any, search: Mapping[str, Mapping[str, list]]) -> Any:
    """The value as written in the search space (a table turns 4 into 4.0)."""
    for space in search.values():
        for values in space.values():
            for v in values:
                if v == value and type(v) is not bool:
                    return v
    return value.item() if hasattr(value, "item") else value


def run_study(spec: Mapping[str, Any], out_dir: str | os.PathLike, jobs: int = 1,
              engine: str = "papermill", notebook: str | os.PathLike = NOTEBOOK,
              progress: bool = True) -> pd.DataFrame:
    """A search on validation data, then the final runs over seeds with the chosen settings.

    ``spec``: ``{"base": {...}, "grid": {"dataset": [...], "backbone": [...], "method": [...]},
    "search": {method: {setting: [values]}, "*": {...}}, "search_on": {"dataset": ...},
    "search_seed": 0, "seeds": [0, 1, 2], "ablate": {method: {setting: value}}}``. ``ablate``
    adds, for each final run of a method, one more run at the chosen settings overridden by the
    given ones — ``{"ig": {"alpha_ratio": 0}}`` measures IG against itself with the move off. With ``search_on`` the search runs only on the grid
    cells matching it and each method's chosen settings are used for every cell; without it,
    every cell gets its own search. Final runs go seed by seed (all cells at seed 0 first), so
    an interrupted study still covers the whole grid. Writes ``search.csv``, ``chosen.csv`` and
    ``results.csv`` (final runs) in ``out_dir``.
    """
    out = Path(out_dir)
    base, grid = dict(spec.get("base", {})), dict(spec["grid"])
    search, scope = spec.get("search", {}), dict(spec.get("search_on", {}))
    cells = grid_cells(grid, base)
    search_cells = []
    for cell in cells:
        if any(cell.get(k) != v for k, v in scope.items()):
            continue
        space = {**search.get("*", {}), **search.get(cell["method"], {})}
        for option in (grid_cells(space) if space else [{}]):
            search_cells.append({**cell, **option, "seed": spec.get("search_seed", 0)})
    searched = sorted({k for s in search.values() for k in s})
    table = run_grid(search_cells, out / "search", jobs, engine, notebook, progress)
    if table.empty:
        raise InvlearnError("the search produced no finished run; see search/failures.json")
    table.to_csv(out / "search.csv", index=False)
    group = [k for k in grid if k in table.columns and k not in scope]
    present = [k for k in searched if k in table.columns]
    chosen = choose_best(table, group, present)
    chosen.to_csv(out / "chosen.csv", index=False)
    finals = []
    for seed in spec.get("seeds", [0, 1, 2]):
        for cell in cells:
            row = chosen
            for k in group:
                row = row[row[k] == cell[k]]
            if row.empty:
                continue
            setting = {k: _original(row.iloc[0][k], search) for k in present
                       if pd.notna(row.iloc[0][k])}
            finals.append({**cell, **setting, "seed": seed})
            ablation = spec.get("ablate", {}).get(cell.get("method"))
            if ablation:  # e.g. IG with its move switched off, at the chosen settings
                finals.append({**cell, **setting, **ablation, "seed": seed})
    final = run_grid(finals, out / "final", jobs, engine, notebook, progress)
    final.to_csv(out / "results.csv", index=False)
    return final
