"""A study: a search on validation data, then final runs over seeds with the chosen settings.

``run_study`` runs its search and its final runs as grids (:func:`invlearn.grid.run_grid`); its
spec is one declared schema, :class:`StudySpec`, checked whole (every cell's settings too) before
any run. Every file is written atomically (:mod:`invlearn.io`).
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .config import ALL_METHODS, MAX_SEED, METHOD_SETTINGS, SCORES
from .data import DATA_KEYS
from .errors import InvlearnError, check_int
from .grid import check_grid_call, dask_scheduler, folder_lock, grid_cells, make_out_dir, run_grid
from .io import read_json_record, write_csv_atomic, write_json_atomic
from .record import check_params, config_fields

#: What a study writes in its folder (files and sub-folders).
STUDY_OUTPUTS = ("results.csv", "search.csv", "chosen.csv", "failures.json", "study.json",
                 "search", "final")


def choose_best(table: pd.DataFrame, group: list[str], searched: list[str],
                by: str = "valid_auc") -> pd.DataFrame:
    """For each ``group`` (e.g. dataset × backbone × method), the ``searched`` settings with the
    best validation score ``by`` (validation data only: test metrics are never looked at)."""
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


DEFAULT_SEEDS = (1, 2, 3)
"""A study's final seeds when its spec gives none. None of the three is the default search seed 0."""


@dataclasses.dataclass(frozen=True)
class StudySpec:
    """The one schema of a grid spec (``python -m invlearn grid --spec``, chapters 6 and 8).

    ``base``: parameters of every run. ``grid``: parameter → non-empty list of values (must
    include ``method``; a single value is still a list). ``search``: method name or ``"*"`` →
    setting → list of values tried on validation data. ``search_on``: grid key → value limiting
    the search to matching cells. ``search_seed``: the search's seed (default 0). ``seeds``:
    distinct seeds of the final runs (``[]`` for a search-only study; default
    :data:`DEFAULT_SEEDS`, which leaves out the default search seed, so that no final number
    is the one its setting was chosen on). ``ablate``: method → settings;
    each final run of that method gets a twin at the chosen settings overridden by these —
    ``{"ig": {"alpha_ratio": 0}}`` puts IG beside itself with its move switched off.
    ``exclude``: partial cells (grid key → value) left out of the grid, e.g.
    ``{"label_fraction": 1.0, "pool": "hidden"}`` (chapter 9). ``tuning``: equal tuning (chapter
    9), ``{"settings": N, "seed": S}``: every learned method gets exactly N searched settings in
    every searched cell (N ≥ 6, ``lr`` among the searched keys; a larger grid of a method's
    settings is subsampled with seed S), and ``search_seed`` must not be a final seed. The
    scores that learn nothing (popularity, item_mean) are never searched: they run once per
    searched cell. ``more_seeds``: more final seeds for some cells, ``[{"where": partial cell,
    "seeds": [...]}]``, e.g. ten seeds in the cells where a verdict claims a difference (chapter
    9); appended to a finished study, only the new runs run. Build it with :func:`parse_spec`.
    """

    grid: dict[str, list]
    base: dict[str, Any] = dataclasses.field(default_factory=dict)
    search: dict[str, dict[str, list]] = dataclasses.field(default_factory=dict)
    search_on: dict[str, Any] = dataclasses.field(default_factory=dict)
    search_seed: int = 0
    seeds: list[int] = dataclasses.field(default_factory=lambda: list(DEFAULT_SEEDS))
    ablate: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    exclude: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    tuning: dict[str, int] | None = None
    more_seeds: list[dict[str, Any]] = dataclasses.field(default_factory=list)


def _same_study(out: Path, study: StudySpec) -> None:
    """Keep the study's spec in ``out/study.json``; raise :class:`~invlearn.errors.InvlearnError`
    when the folder already holds a different study (its tables would be replaced)."""
    mine = json.loads(json.dumps(dataclasses.asdict(study), sort_keys=True))
    if not mine["more_seeds"]:  # a study without them keeps the study.json it always had
        del mine["more_seeds"]
    path = out / "study.json"
    if path.exists():
        theirs = read_json_record(path)
        if theirs == mine:
            return
        if _more_seeds(theirs, mine):  # the same study with seeds added after the first ones
            print(f"{out}: the study's final seeds grow from {theirs['seeds']} to "
                  f"{mine['seeds']}, with {len(mine.get('more_seeds', []))} cell(s) given "
                  f"more", file=sys.stderr)
        else:
            keys = sorted(k for k in {*mine, *(theirs if isinstance(theirs, dict) else ())}
                          if not isinstance(theirs, dict) or theirs.get(k) != mine.get(k))
            raise InvlearnError(f"the results folder {out} holds another study (its "
                                f"{path.name} differs in {', '.join(keys) or 'its form'}); "
                                f"choose another folder, or remove it to start over")
    write_json_atomic(path, mine)


def _more_seeds(theirs: Any, mine: dict) -> bool:
    """Whether ``mine`` is the study ``theirs`` with final seeds appended, to all cells
    (``seeds``) or to some (``more_seeds``), and nothing else changed: every finished run stays
    valid, so the study resumes and runs only the new seeds."""
    grown = ("seeds", "more_seeds")
    if not isinstance(theirs, dict) or set(theirs) - set(grown) != set(mine) - set(grown):
        return False
    if any(theirs[k] != mine[k] for k in mine if k not in grown):
        return False
    prefix = [isinstance(theirs.get(k, []), list)
              and mine.get(k, [])[:len(theirs.get(k, []))] == theirs.get(k, []) for k in grown]
    longer = any(len(mine.get(k, [])) > len(theirs.get(k, [])) for k in grown)
    return all(prefix) and longer


#: Equal tuning, the fewest settings each learned method may get (chapter 9).
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
    return check_int(value, f"spec {where}", 0, MAX_SEED)


def _parse_search(search: Any, grid: Mapping[str, list]) -> dict[str, dict[str, list]]:
    _need(search, dict, '"search"', "an object: method or \"*\" → {setting: [values]}")
    for method, space in search.items():
        if method != "*" and method not in ALL_METHODS:
            raise InvlearnError(f"spec \"search\": {method!r} is not a method or \"*\"; "
                                f"methods: {', '.join(ALL_METHODS)}")
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
    """Check a study spec's shape against :class:`StudySpec`; every error names the key."""
    _need(spec, dict, "", "a JSON object with \"grid\" (and \"base\", \"search\", "
          "\"search_on\", \"search_seed\", \"seeds\", \"ablate\", \"exclude\", "
          "\"tuning\", \"more_seeds\")")
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
    seeds = _need(spec.get("seeds", list(DEFAULT_SEEDS)), list, '"seeds"', "a list of integers")
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
        _partial_cell(part, grid, f'"exclude"[{k}]')
    study = StudySpec(grid=grid, base=base, search=_parse_search(spec.get("search", {}), grid),
                      search_on=scope, search_seed=_seed(spec.get("search_seed", 0),
                                                         '"search_seed"'),
                      seeds=seeds, ablate=ablate, exclude=exclude,
                      more_seeds=_parse_more_seeds(spec.get("more_seeds", []), grid, seeds))
    if "tuning" in spec:
        study = dataclasses.replace(study, tuning=_parse_tuning(spec["tuning"], study))
    return study


def _partial_cell(part: Any, grid: Mapping[str, list], where: str) -> None:
    """A partial cell (grid key → one of its values), as ``exclude`` and ``more_seeds`` take."""
    _need(part, dict, where, "an object: grid key → value")
    for key, value in part.items():
        if key not in grid:
            raise InvlearnError(f"spec {where}: {key!r} is not a key of \"grid\"")
        if value not in grid[key]:
            raise InvlearnError(f"spec {where}: {key}={value!r:.40} is not a value of "
                                f"\"grid\".\"{key}\", so it matches no cell")


def _parse_more_seeds(more: Any, grid: Mapping[str, list], seeds: list[int]) -> list[dict]:
    """Check ``"more_seeds"``: each entry a partial cell and seeds no cell has yet."""
    _need(more, list, '"more_seeds"', 'a list of {"where": {grid key: value}, "seeds": [...]}')
    for k, entry in enumerate(more):
        where = f'"more_seeds"[{k}]'
        _need(entry, dict, where, 'an object {"where": {grid key: value}, "seeds": [...]}')
        if set(entry) != {"where", "seeds"}:
            raise InvlearnError(f"spec {where} takes exactly \"where\" and \"seeds\", got "
                                f"{sorted(entry)}")
        _partial_cell(entry["where"], grid, f"{where}.\"where\"")
        extra = _need(entry["seeds"], list, f"{where}.\"seeds\"", "a list of integers")
        if not extra:
            raise InvlearnError(f"spec {where}.\"seeds\" is empty")
        for s in extra:
            _seed(s, f"{where}.\"seeds\"")
        if len(set(extra)) < len(extra) or set(extra) & set(seeds):
            raise InvlearnError(f"spec {where}.\"seeds\" {extra!r:.60} repeats a seed (its own "
                                f"or one of \"seeds\")")
    return more


def cell_seeds(spec: StudySpec, cell: Mapping[str, Any] | None) -> list[int]:
    """A cell's final seeds: ``seeds``, then those of every ``more_seeds`` entry it matches
    (every entry when ``cell`` is ``None``: all the study's final seeds, in the order given)."""
    seeds = list(spec.seeds)
    for entry in spec.more_seeds:
        if cell is None or all(cell.get(k) == v for k, v in entry["where"].items()):
            seeds += [s for s in entry["seeds"] if s not in seeds]
    return seeds


def _parse_tuning(tuning: Any, study: StudySpec) -> dict[str, int]:
    """Check ``"tuning"`` (equal tuning, chapter 9) against the study it belongs to."""
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
    if study.search_seed in cell_seeds(study, None):
        raise InvlearnError(f"spec \"search_seed\" {study.search_seed} is also a final seed in "
                            f"\"seeds\" or \"more_seeds\": with equal tuning the settings "
                            f"must be chosen on a seed no final run uses")
    for method in study.grid["method"]:
        if method in SCORES:
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


def _space(study: StudySpec, method: str) -> dict[str, list]:
    """The search space of one method: ``"*"``'s settings overridden by the method's own."""
    return {**study.search.get("*", {}), **study.search.get(method, {})}


def method_settings(study: StudySpec, method: str) -> list[dict]:
    """The settings searched for ``method``: every combination of its search space; with equal
    tuning (``study.tuning``) exactly ``settings`` of them, drawn without replacement with the
    tuning seed (the same draw in every cell, kept in grid order). The scores that learn nothing
    (popularity, item_mean) have one empty setting (item_mean chooses its prior strength on
    validation itself)."""
    if method in SCORES:
        return [{}]
    space = _space(study, method)
    options = grid_cells(space) if space else [{}]
    if study.tuning is not None:
        n, seed = study.tuning["settings"], study.tuning["seed"]
        rng = np.random.default_rng([seed, ALL_METHODS.index(method)])
        options = [options[k] for k in np.sort(rng.choice(len(options), n, replace=False))]
    return options


def study_cells(spec: StudySpec) -> list[dict]:
    """The grid's cells over ``base`` except those matching an ``exclude`` entry."""
    return [cell for cell in grid_cells(spec.grid, spec.base)
            if not any(all(cell.get(k) == v for k, v in part.items()) for part in spec.exclude)]


def search_cells(spec: StudySpec) -> list[dict]:
    """The search's runs: each grid cell in ``search_on`` × its method's search space."""
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
    """Check every run the study could make (all search settings on every cell and seed)."""
    if not study_cells(spec):
        raise InvlearnError("spec \"exclude\" removes every grid cell; nothing would run")
    if spec.search and not search_cells(spec):
        raise InvlearnError(f"spec \"search_on\" {spec.search_on!r} matches no grid cell")
    for cell in study_cells(spec):
        for option in method_settings(spec, cell["method"]):
            twin = spec.ablate.get(cell["method"], {})
            for seed in [spec.search_seed, *cell_seeds(spec, cell)]:
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
        finals += _seed_runs(spec, {**cell, **setting})
    return _by_seed(spec, finals), failed


def _seed_runs(spec: StudySpec, cell: dict) -> list[dict]:
    """A cell's final runs: one per seed (:func:`cell_seeds`), each with its ablated twin (e.g.
    IG at alpha_ratio 0) when the spec ablates the cell's method."""
    twin = spec.ablate.get(cell["method"])
    return [run for seed in cell_seeds(spec, cell)
            for run in ([{**cell, "seed": seed}]
                        + ([{**cell, **twin, "seed": seed}] if twin else []))]


def _by_seed(spec: StudySpec, runs: list[dict]) -> list[dict]:
    """Seed by seed: every cell at the first seed before any at the second (stable)."""
    order = {s: i for i, s in enumerate(cell_seeds(spec, None))}
    return sorted(runs, key=lambda c: order[c["seed"]])


def run_study(spec: StudySpec | Mapping[str, Any], out_dir: str | os.PathLike, jobs: int = 1,
              engine: str = "python", notebook: str | os.PathLike | None = None,
              progress: bool = True, executor: str = "local",
              scheduler: str | None = None) -> pd.DataFrame:
    """A search on validation data, then the final runs over seeds with the chosen settings.

    ``spec`` is a :class:`StudySpec` or a dict for :func:`parse_spec`. With ``search_on`` the
    search runs only on the grid cells matching it and each method's chosen settings are used
    for every cell; without it, every cell gets its own search; a spec without ``search`` runs
    its cells as written (no ``chosen.csv``). Final runs go seed by seed, so an interrupted
    study still covers the whole grid. Writes ``search.csv``, ``chosen.csv``, ``results.csv``
    (final runs, with the ``search_seed`` their settings were chosen on) and ``failures.json``
    (failed runs, and ``failed_cells``: cells whose search runs all failed) in ``out_dir``;
    the returned table's ``attrs["failed"]`` counts both. ``out_dir`` is locked while the study
    runs (:func:`~invlearn.grid.folder_lock`), and its ``study.json`` keeps the spec: a
    different spec is refused rather than replacing the first study's tables; the same spec
    resumes, also with final seeds appended (only the new seeds run). ``executor`` and
    ``scheduler`` are :func:`~invlearn.grid.run_grid`'s; one LocalCluster serves both phases.
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
    search_failures: list = []
    if study.search:
        table = run_grid(search_cells(study), out / "search", jobs, engine, notebook, progress,
                         **where)
        write_csv_atomic(out / "search.csv", table)
        search_failures = table.attrs["failures"]
        group = [k for k in study.grid if k not in study.search_on]
        searched = sorted({k for s in study.search.values() for k in s})
        present = [k for k in searched if k in table.columns]
        chosen = choose_best(table, group, present)
        write_csv_atomic(out / "chosen.csv", chosen)
        finals, failed_cells = _final_cells(study, chosen, group, present)
        for cell in failed_cells:
            print(f"cell {cell}: every search run failed; no final runs", file=sys.stderr)
    else:  # no settings to choose: every cell runs as written, seed by seed
        finals = _by_seed(study, [run for cell in study_cells(study)
                                  for run in _seed_runs(study, cell)])
        failed_cells = []
    final = run_grid(finals, out / "final", jobs, engine, notebook, progress, **where)
    if study.search and not final.empty:  # the seed the settings were chosen on
        final["search_seed"] = study.search_seed
    write_csv_atomic(out / "results.csv", final)
    failures = {"search": search_failures, "final": final.attrs["failures"],
                "failed_cells": failed_cells}
    write_json_atomic(out / "failures.json", failures)
    final.attrs["failed"] = (len(failures["search"]) + len(failures["final"])
                             + len(failed_cells))
    return final
