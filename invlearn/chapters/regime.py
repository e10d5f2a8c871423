"""The regime map of chapter 9: where, over label sparsity and unlabeled pool, IG beats the
best baseline.

A regime study (``book/results/regime-*/``) trains every method at several label fractions
``f`` and unlabeled pools. Each *cell* is one backbone × pool × fraction; inside a cell the runs
differ by method and seed.

* :func:`share_pool_free_runs` — None trains on labeled rows only, so its runs (made once, with
  the ``random`` pool) belong to every pool's cell of the same backbone and fraction;
* :func:`regime_map` — per cell, IG against the baseline that *validation* picks, and against
  IG with its move switched off, with paired tests over seeds;
* :func:`regime_maps` — the second edition's two maps: per cell, IG against the best method on
  its own backbone, and against the best of everything (any backbone, and the scores that learn
  nothing), both chosen on validation, judged by :func:`invlearn.chapters.report.decision_rule`;
* :func:`annotation_table` — per cell, how often IDL's and IG's annotation of the pool matches
  the truth, beside the trivial all-negative and all-positive annotators (printed by
  :func:`annotation_margins`);
* :func:`sparsity_table` and :func:`hidden_pool_check` — what withholding labels leaves of a
  data set, and that the hidden pool is exactly the withheld rows;
* :func:`read_study`, :func:`means_by_fraction` and :func:`learn_nothing` — a study's runs
  and its scores' (one folder in the second edition), the means behind the paper's Figure 1
  across sparsity, and the bar the scores that learn nothing set;
* :func:`final_runs_done` and :func:`searched_settings` — how many of a study's planned final
  runs are done, and the settings each method searched per cell (equal tuning);
* :func:`more_seeds_for` — the study spec's ``"more_seeds"`` that give ten seeds to the cells
  a verdict rests on;
* :func:`verdict_table`, :func:`describe_runs`, :func:`map_table`, :func:`seed_gaps`,
  :func:`other_metrics` and :func:`move_table` — the chapter's readings of the two maps, cell
  by cell, and :func:`dashed`, a table's floats as text with missing values as a dash;
* :func:`chosen_settings` — the settings validation chose, per method (and backbone) and
  fraction.

The table makers take one study's frame, or a mapping from a data set's printed name to its
frame (``{"ML-1M": every, "simulated feed": sim_every}``): then one table holds every study,
the data set first (:func:`by_data_set`), so that two studies read side by side.
"""
from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from ..config import SCORES
from ..errors import InvlearnError
from ..splits import Split, label_fraction, unlabeled_pool
from .report import (
    DECISION_GAP,
    DECISION_LEVEL,
    METHOD_ORDER,
    backbone_label,
    column_label,
    decision_rule,
    format_p,
    method_label,
    paired_test,
    percent,
    power_of_ten,
    setting_value,
    signed,
    split_variants,
    summarize,
)

#: A frame per data set, keyed by the data set's printed name (``"ML-1M"``).
Studies = Mapping[str, pd.DataFrame]
#: The column or outer index level that names the data set in a table of several studies.
DATA_SET = "data set"

#: The baselines IG is measured against in chapter 9 (SRNS is left out of the regime studies).
BASELINES = ("none", "ns", "tce", "rce", "dns", "idl")
CELL = ("backbone", "pool", "label_fraction")
POOL_FREE = ("none",)
#: Methods whose runs do not depend on the pool, None and item_mean (kept labels only).
#: Popularity counts the pool's rows, so it is not among them.
POOL_FREE_ALL = ("none", "item_mean")
#: The two maps of the second edition (chapter 9).
MAPS = ("own_backbone", "everything")


def _one_frame(first) -> bool:
    return isinstance(first, pd.DataFrame)


def per_study(single: Callable[[object], bool] = _one_frame):
    """Let a table maker take one study or several: where ``single(first argument)`` is false,
    the first argument maps a data set's printed name to its study, the maker runs on each, and
    :func:`by_data_set` joins the results (each part of a tuple result on its own)."""
    def wrap(make):
        @functools.wraps(make)
        def each(first, *args, **kwargs):
            if single(first):
                return make(first, *args, **kwargs)
            out = {name: make(study, *args, **kwargs) for name, study in first.items()}
            parts = next(iter(out.values()), None)
            if isinstance(parts, tuple):
                return tuple(by_data_set({name: result[k] for name, result in out.items()})
                             for k in range(len(parts)))
            return by_data_set(out)
        return each
    return wrap


def share_pool_free_runs(table: pd.DataFrame, pool_free: Sequence[str] = POOL_FREE,
                         any_backbone: bool = False) -> pd.DataFrame:
    """``table`` (IG at α = 0 split off as ``"ig0"``) where each run of a method that draws no
    unlabeled rows (None) is repeated in every other pool present at its backbone and fraction,
    so that each cell holds every method. With ``any_backbone``, in every pool present at its
    fraction on any backbone: a backbone that ran with one pool only (NeuMF with random pairs)
    still offers its pool-free runs as rivals in the other pools (the everything map)."""
    _need(table, [*CELL, "method", "seed"])
    out = split_variants(table)
    free = out[out["method"].isin(list(pool_free))]
    pools_at = out.groupby(["label_fraction"] if any_backbone
                           else ["backbone", "label_fraction"])["pool"].agg(set)
    copies = []
    for (backbone, fraction), rows in free.groupby(["backbone", "label_fraction"]):
        present = pools_at[fraction] if any_backbone else pools_at[(backbone, fraction)]
        for pool in sorted(present - set(rows["pool"])):
            copies.append(rows.assign(pool=pool))
    return pd.concat([out, *copies], ignore_index=True) if copies else out


def regime_map(table: pd.DataFrame, metric: str = "auc", baselines: Sequence[str] = BASELINES,
               select_by: str = "valid_auc") -> pd.DataFrame:
    """Per cell (backbone × pool × fraction): IG minus the baseline with the best mean
    ``select_by`` (validation, never test) in ``metric``, over runs matched by seed, with the
    paired tests of :func:`~invlearn.chapters.report.paired_test`; and IG minus IG (α = 0) on the
    same seeds (does the meta-move matter at all?). ``table`` is a regime study's ``results.csv``.

    Columns: the cell, ``baseline`` (its name), ``n`` (pairs), ``ig``, ``baseline_mean``,
    ``diff``, ``std_diff``, ``wins``, ``losses``, ``p_t``, ``p_sign``, ``ig0_diff``, ``ig0_p_t``,
    ``share_moved`` (IG's meta-steps whose kept move changed any entry) and ``ig_variant``.
    """
    _need(table, [*CELL, "method", "seed", metric, select_by])
    runs = share_pool_free_runs(table)
    rows = []
    for cell, group in runs.groupby(list(CELL), sort=True):
        ig = group[group["method"] == "ig"]
        candidates = group[group["method"].isin(list(baselines))]
        if ig.empty or candidates.empty:
            continue
        means = candidates.groupby("method")[select_by].mean()
        baseline = str(means.idxmax())
        test = paired_test(group, "ig", baseline, metric, match=("seed",))
        row = dict(zip(CELL, cell))
        row.update(baseline=baseline, n=test["n"], ig=test["mean_a"],
                   baseline_mean=test["mean_b"], diff=test["mean_diff"],
                   std_diff=test["std_diff"], wins=test["wins"], losses=test["losses"],
                   p_t=test["p_t"], p_sign=test["p_sign"])
        if (group["method"] == "ig0").any():
            off = paired_test(group, "ig", "ig0", metric, match=("seed",))
            row.update(ig0_diff=off["mean_diff"], ig0_p_t=off["p_t"])
        if "share_moved" in ig:
            row["share_moved"] = float(ig["share_moved"].mean())
        row["ig_variant"] = _variant(ig.iloc[0])
        rows.append(row)
    if not rows:
        raise InvlearnError("no cell holds both IG and a baseline")
    return pd.DataFrame(rows)


def regime_maps(table: pd.DataFrame, metric: str = "auc", select_by: str = "valid_auc",
                baselines: Sequence[str] = BASELINES, scores: Sequence[str] = SCORES,
                gap: float = DECISION_GAP, level: float = DECISION_LEVEL
                ) -> dict[str, pd.DataFrame]:
    """The second edition's two maps (chapter 9), ``{"own_backbone": …, "everything": …}``.

    Each row is a cell where IG ran (backbone × pool × fraction). Its rival is chosen by the
    best mean ``select_by`` (validation, never test), over the seeds every candidate ran, among

    * ``own_backbone``: the ``baselines`` on IG's backbone in the same pool and fraction;
    * ``everything``: the ``baselines`` on *any* backbone and the ``scores`` (popularity,
      item_mean), in the same pool and fraction.

    IG and its rival are paired by seed, and :func:`~invlearn.chapters.report.decision_rule` runs
    over all cells of one map (paired t-test, Benjamini–Hochberg ``q``, ``verdict`` with
    ``"ig better"`` / ``"rival better"`` / ``"no difference"``). None and item_mean do not use
    the pool: their runs count in every pool of their fraction. Columns: the cell, ``rival``
    (method), ``rival_backbone``, ``n``, ``ig``, ``rival_mean``, ``gap`` (IG − rival), ``std_gap``,
    ``wins``, ``losses``, ``t``, ``p_t``, ``p_sign``, ``q``, ``verdict``."""
    _need(table, [*CELL, "method", "seed", metric, select_by])
    runs = share_pool_free_runs(table, POOL_FREE_ALL, any_backbone=True)
    runs = runs.assign(label_fraction=runs["label_fraction"].astype(float))
    maps = {}
    for name in MAPS:
        pairs, rivals = [], []
        for cell, group in runs.groupby(list(CELL), sort=True):
            ig = group[group["method"] == "ig"]
            if ig.empty:
                continue
            backbone, pool, fraction = cell
            around = runs[(runs["pool"] == pool) & (runs["label_fraction"] == fraction)]
            if name == "own_backbone":
                rows = around[(around["backbone"] == backbone)
                              & around["method"].isin(list(baselines))]
            else:
                rows = around[around["method"].isin([*baselines, *scores])]
            if rows.empty:
                continue
            means = _common_seed_means(rows, select_by)
            method, rival_backbone = means.idxmax()
            rival = rows[(rows["method"] == method) & (rows["backbone"] == rival_backbone)]
            matched = ig.set_index("seed")[[metric]].merge(
                rival.drop_duplicates("seed").set_index("seed")[[metric]], how="inner",
                left_index=True, right_index=True, suffixes=("_ig", "_rival"))
            key = dict(zip(CELL, cell))
            rivals.append({**key, "rival": method, "rival_backbone": rival_backbone})
            pairs.append(pd.DataFrame({**key, "seed": matched.index,
                                       "ig": matched[f"{metric}_ig"].to_numpy(),
                                       "rival": matched[f"{metric}_rival"].to_numpy()}))
        if not pairs:
            raise InvlearnError("no cell holds both IG and a rival")
        decided = decision_rule(pd.concat(pairs, ignore_index=True), list(CELL), "ig", "rival",
                                gap, level)
        decided = decided.rename(columns={"mean_a": "ig", "mean_b": "rival_mean"})
        maps[name] = pd.DataFrame(rivals).merge(decided, on=list(CELL))
    return maps


def _common_seed_means(rows: pd.DataFrame, select_by: str) -> pd.Series:
    """Each candidate's (method × backbone) mean ``select_by`` over the seeds every candidate
    ran, so that a method given extra seeds (a spec's ``more_seeds``) is not judged on more, or
    luckier, seeds than the others; over all its seeds where the candidates share none."""
    groups = rows.groupby(["method", "backbone"])
    common = set.intersection(*(set(g["seed"]) for _, g in groups))
    if common:
        rows = rows[rows["seed"].isin(common)]
    return rows.groupby(["method", "backbone"])[select_by].mean()


def more_seeds_for(maps: Mapping[str, pd.DataFrame], seeds: Sequence[int]) -> list[dict]:
    """The study spec's ``"more_seeds"`` entries that give ``seeds`` to every run a verdict of
    ``maps`` (:func:`regime_maps`) rests on: in each cell whose verdict is not ``"no
    difference"``, IG (with its α = 0 twin) and its rival. A rival that does not use the pool
    (None, item_mean) ran in the random pool only, so its entry names no pool. Entries are
    unique and in map order."""
    entries: list[dict] = []
    for frame in maps.values():
        _need(frame, [*CELL, "rival", "rival_backbone", "verdict"])
        for _, row in frame[frame["verdict"] != "no difference"].iterrows():
            cell = {"label_fraction": float(row["label_fraction"]), "pool": row["pool"]}
            rival = {**cell, "backbone": row["rival_backbone"], "method": row["rival"]}
            if row["rival"] in POOL_FREE_ALL:
                del rival["pool"]
            for where in ({**cell, "backbone": row["backbone"], "method": "ig"}, rival):
                entry = {"where": where, "seeds": list(seeds)}
                if entry not in entries:
                    entries.append(entry)
    return entries


def _variant(run: pd.Series) -> str:
    parts = [f"{run.get('alpha_rule', '?')}", f"α/γ {run.get('alpha_ratio', '?'):g}"]
    if "meta_steps" in run:
        parts.append(str(run["meta_steps"]))
    if "lr" in run:
        parts.append(f"lr {run['lr']:g}")
    return ", ".join(parts)


def annotation_table(table: pd.DataFrame,
                     methods: Sequence[str] = ("idl", "ig", "ig0")) -> pd.DataFrame:
    """Per cell and method (IDL, IG, IG at α = 0): mean annotation accuracy at the kept epoch
    over seeds, and the accuracy of the trivial annotators that call every pool row negative or
    every one positive (``1 − pool_positive_share`` and ``pool_positive_share``). Cells whose
    pool has no known truth (random pairs of MovieLens) have no annotation and are left out."""
    _need(table, [*CELL, "method", "annotation_accuracy", "pool_positive_share"])
    runs = split_variants(table)
    runs = runs[runs["method"].isin(list(methods)) & runs["annotation_accuracy"].notna()]
    if runs.empty:
        raise InvlearnError("no run has an annotation accuracy (no pool with known labels)")
    out = runs.groupby([*CELL, "method"]).agg(
        accuracy=("annotation_accuracy", "mean"), accuracy_std=("annotation_accuracy", "std"),
        positive_share=("pool_positive_share", "mean"), n=("annotation_accuracy", "size"))
    out["all_negative"] = 1 - out["positive_share"]
    out["all_positive"] = out["positive_share"]
    out["over_best_trivial"] = out["accuracy"] - np.maximum(out["all_negative"],
                                                            out["all_positive"])
    return out.reset_index()


@per_study()
def annotation_margins(annotation: pd.DataFrame | Studies) -> pd.DataFrame:
    """:func:`annotation_table` as chapter 9 prints it (one study's, or several by data set): per cell (indexed by backbone, pool and
    ``f`` as ``"1%"``), each annotator's accuracy minus the better trivial annotator's *on the
    pool rows that annotator drew* (one column per method, ``"IDL − trivial"``, ``"+0.012"``,
    ``"0.000"`` where it rounds to zero, ``"–"`` where the method did not run), and ``share
    liked``, the mean liked share of those rows (3 digits). Each run draws its own rows, so the bar is each
    annotator's own, never one shared number."""
    _need(annotation, [*CELL, "method", "over_best_trivial", "positive_share"])
    wide = annotation.pivot_table(index=list(CELL), columns="method", values="over_best_trivial")
    rank = {m: k for k, m in enumerate(METHOD_ORDER)}
    wide = wide[sorted(wide.columns, key=lambda m: rank.get(m, len(rank)))]
    out = wide.map(lambda v: "–" if np.isnan(v) else signed(v, 3))
    out.columns = [f"{method_label(m)} − trivial" for m in wide.columns]
    share = annotation.groupby(list(CELL))["positive_share"].mean()
    out["share liked"] = share.reindex(wide.index).map(lambda v: f"{v:.3f}").to_numpy()
    out.index = _cell_index(wide.index.to_frame(index=False))
    return out


def sparsity_table(split: Split, fractions: Sequence[float], seed: int = 0) -> pd.DataFrame:
    """Per label fraction ``f`` (index ``"1%"``, ...): the labeled rows
    :func:`~invlearn.splits.label_fraction` keeps with ``seed``, their positive share, the users
    left with no label, the hidden (withheld) rows and their positive share, and whether the rows
    kept at ``f`` include those kept at the next smaller fraction."""
    rows, kept_before = [], None
    for f in sorted(fractions):
        part = label_fraction(split, f, seed=seed)
        kept = set(zip(part.train["user"], part.train["item"]))
        hidden = part.hidden if part.hidden is not None else part.train.iloc[:0]
        rows.append({"f": percent(f), "labeled rows": len(part.train),
                     "labeled positive share": part.train["label"].mean(),
                     "users with no label": split.n_users - part.train["user"].nunique(),
                     "hidden rows": len(hidden),
                     "hidden positive share": hidden["label"].mean() if len(hidden) else np.nan,
                     "keeps the smaller fraction's rows": kept_before is None
                     or kept_before <= kept})
        kept_before = kept
    return pd.DataFrame(rows).set_index("f")


def hidden_pool_check(split: Split, fraction: float, seed: int = 0) -> pd.DataFrame:
    """One row (index: the fraction as ``"10%"``): the size of the hidden pool at ``fraction``
    and whether its pairs are exactly the training pairs that ``label_fraction`` withheld."""
    part = label_fraction(split, fraction, seed=seed)
    pool = unlabeled_pool(part, "hidden")
    withheld = (set(zip(split.train["user"], split.train["item"]))
                - set(zip(part.train["user"], part.train["item"])))
    return pd.DataFrame({"f": [percent(fraction)], "hidden rows": [len(pool)],
                         "exactly the withheld rows": [set(zip(pool["user"], pool["item"]))
                                                       == withheld]}).set_index("f")


#: The two maps' titles, as the figures print them.
MAP_TITLES = {"own_backbone": "IG − the best learned method on its own backbone",
              "everything": "IG − the best of everything (any backbone, the two scores)"}


def read_study(results_dir: str | os.PathLike, scores_dir: str | os.PathLike | None = None,
               scores: Sequence[str] = SCORES) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """A regime study's final runs of the learned methods, the runs of its scores that learn
    nothing, and both in one table. The second edition holds all of them in one folder
    (``results_dir/results.csv``, the ``scores`` among its methods); the first edition kept the
    scores in a folder of their own, ``scores_dir``."""
    tables = []
    for folder in (results_dir, *([scores_dir] if scores_dir is not None else [])):
        path = os.path.join(folder, "results.csv")
        if not os.path.isfile(path):
            raise InvlearnError(f"{path} does not exist: a regime study's folder holds it")
        tables.append(pd.read_csv(path))
    every = pd.concat(tables, ignore_index=True)
    is_score = every["method"].isin(list(scores))
    return (every[~is_score].reset_index(drop=True), every[is_score].reset_index(drop=True),
            every)


def final_runs_done(results_dir: str | os.PathLike) -> tuple[int, int]:
    """How far a study's final runs are: ``(done, planned)``, the rows of
    ``results_dir/results.csv`` and the final runs its ``spec.json`` asks for (every cell not
    excluded, at each of its seeds, with the ablated twin where the spec ablates the method)."""
    from ..study import cell_seeds, parse_spec, study_cells

    for name in ("spec.json", "results.csv"):
        if not os.path.isfile(os.path.join(results_dir, name)):
            raise InvlearnError(f"{os.path.join(results_dir, name)} does not exist: a regime "
                                "study's folder holds it")
    with open(os.path.join(results_dir, "spec.json")) as handle:
        spec = parse_spec(json.load(handle))
    planned = sum(len(cell_seeds(spec, cell)) * (2 if cell["method"] in spec.ablate else 1)
                  for cell in study_cells(spec))
    return len(pd.read_csv(os.path.join(results_dir, "results.csv"))), planned


@per_study()
def searched_settings(search: pd.DataFrame | Studies) -> pd.DataFrame:
    """Equal tuning, read from a study's ``search.csv``: per method (printed name, the book's
    order), the searched cells (backbone × fraction), the settings searched per cell (``"6"``,
    or ``"5–6"`` where cells differ) and the seeds searched on (``"0"``)."""
    _need(search, ["backbone", "label_fraction", "method", "seed"])
    per_cell = search.groupby(["method", "backbone", "label_fraction"]).size()
    rank = {m: k for k, m in enumerate(METHOD_ORDER)}
    rows = []
    for method in sorted(per_cell.index.unique("method"), key=lambda m: rank.get(m, len(rank))):
        counts = per_cell.loc[method]
        low, high = int(counts.min()), int(counts.max())
        seeds = sorted(search.loc[search["method"] == method, "seed"].unique())
        rows.append({"method": method_label(method), "cells": len(counts),
                     "settings per cell": str(low) if low == high else f"{low}–{high}",
                     "search seed": ", ".join(str(int(s)) for s in seeds)})
    return pd.DataFrame(rows)


@per_study()
def means_by_fraction(table: pd.DataFrame | Studies, backbone: str = "gmf",
                      scores: Sequence[str] = SCORES) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Mean test AUC per pool, method and label fraction on ``backbone``, the ``scores``'
    rows included: the numbers behind chapter 9's Figure 1 across sparsity.

    Returns :func:`~invlearn.chapters.report.summarize`'s table (indexed by pool, method,
    fraction; ``auc_mean``, ``auc_std``, ``n``) and its means as a table, one row per pool and
    method (printed names, in the book's method order) and one column per fraction (``"1%"``).
    Given several studies, both tables gain the data set as their outer index level."""
    _need(table, [*CELL, "method", "seed", "auc"])
    every = share_pool_free_runs(table, POOL_FREE_ALL)
    every = every[(every["backbone"] == backbone) | every["method"].isin(list(scores))]
    summary = summarize(every, ["pool", "method", "label_fraction"], ["auc"])
    out = summary["auc_mean"].unstack("label_fraction")
    out.columns = [percent(f) for f in out.columns]
    rank = {m: k for k, m in enumerate(METHOD_ORDER)}
    out = out.sort_index(key=lambda level: level.map(rank) if level.name == "method" else level)
    return summary, out.rename(index=method_label, level="method")


@per_study()
def learn_nothing(table: pd.DataFrame | Studies, scores: Sequence[str] = SCORES
                  ) -> pd.DataFrame:
    """Chapter 9's bar of the scores that learn nothing: per pool and fraction, popularity's and
    item mean's test AUC beside the best learned model *in hindsight*, picked by *test* AUC
    among every method and backbone (IG included: the most generous bar for the models).
    Given several studies, a first column ``data set`` names each row's.

    ``table`` holds a study's runs and its scores' runs (the scores ran on GMF). Columns:
    ``pool``, ``f``, ``popularity``, ``item mean`` (NaN where a score did not run), ``best
    model in hindsight`` (printed name and backbone, ``"IG (α = 0), NeuMF"``), ``its test AUC``
    and ``best score − best model`` (the better score minus the best model: positive where a score
    that learns nothing wins)."""
    _need(table, [*CELL, "method", "seed", "auc"])
    every = share_pool_free_runs(table, POOL_FREE_ALL, any_backbone=True)
    means = every.groupby(["pool", "label_fraction", "method", "backbone"])["auc"].mean()
    rows = []
    for (pool, f), group in means.groupby(level=["pool", "label_fraction"]):
        group = group.droplevel(["pool", "label_fraction"])
        learned = group[~group.index.get_level_values("method").isin(list(scores))]
        if learned.empty:
            raise InvlearnError(f"no learned model ran in the cell {pool}, {percent(f)}")
        method, backbone = learned.idxmax()
        rows.append({"pool": pool, "f": f, "popularity": group.get(("popularity", "gmf")),
                     "item mean": group.get(("item_mean", "gmf")),
                     "best model in hindsight": f"{method_label(method)}, "
                                                f"{backbone_label(backbone)}",
                     "its test AUC": learned.max()})
    out = pd.DataFrame(rows)
    best_score = out[["popularity", "item mean"]].max(axis=1)
    out["best score − best model"] = best_score - out["its test AUC"]
    return out


def rival_label(row: Mapping) -> str:
    """The printed name of a map cell's rival (a row of :func:`regime_maps`), with its backbone
    where it differs from IG's (never for a score, which has no backbone of its own)."""
    name = method_label(row["rival"])
    if row["rival_backbone"] != row["backbone"] and row["rival"] not in SCORES:
        name += f" ({backbone_label(row['rival_backbone'])})"
    return name


@per_study(lambda maps: not maps or any(isinstance(f, pd.DataFrame) for f in maps.values()))
def verdict_table(maps: Mapping[str, pd.DataFrame] | Mapping[str, Mapping[str, pd.DataFrame]]
                  ) -> pd.DataFrame:
    """The cells where chapter 9's decision rule finds a difference, in every map of
    :func:`regime_maps`: indexed by the map (``"own backbone"``, ``"everything"``) and the cell
    (fraction as ``"1%"``), with the ``rival``, the ``gap`` (``"+0.027"``), ``q`` and the
    ``verdict`` (``"IG ahead"``, ``"IG behind"``). Cells the rule calls a tie are left out;
    a map with none of the other kind simply has no rows. Given the maps of several studies
    (data set → maps), the data set is the outer index level."""
    parts = []
    for name, frame in maps.items():
        _need(frame, [*CELL, "rival", "rival_backbone", "gap", "q", "verdict"])
        kept = frame[frame["verdict"] != "no difference"]
        part = pd.DataFrame({"rival": [rival_label(r) for _, r in kept.iterrows()],
                             "gap": kept["gap"].map(lambda v: signed(v, 3)).to_numpy(),
                             "q": kept["q"].map(format_p).to_numpy(),
                             "verdict": kept["verdict"].map(VERDICT_WORDS).to_numpy()})
        cells = _cell_index(kept).to_frame(index=False)
        part.index = pd.MultiIndex.from_frame(
            cells.assign(map=name.replace("_", " "))[["map", "backbone", "pool", "f"]])
        parts.append(part)
    if not parts:
        raise InvlearnError("verdict_table needs at least one map")
    return pd.concat(parts)


def describe_runs(results: pd.DataFrame) -> str:
    """How a regime study's final runs add up: the methods that use a pool (IG at α = 0 among
    them) ran in every cell and seed, and None, which uses no pool, once per backbone, fraction
    and seed, serving every pool of its cell (:func:`share_pool_free_runs`)."""
    _need(results, [*CELL, "method", "seed"])
    runs = split_variants(results)
    free = runs["method"].isin(list(POOL_FREE))
    pooled = runs[~free]
    n_cells = len(share_pool_free_runs(results).groupby(list(CELL)))
    n_methods, n_seeds = pooled["method"].nunique(), runs["seed"].nunique()
    product = f": {n_methods} × {n_cells} cells × {n_seeds} seeds" \
        if len(pooled) == n_methods * n_cells * n_seeds else ""
    return (f"{len(runs)} final runs ({n_seeds} seeds, {n_cells} cells):\n"
            f"  {len(pooled)} of the {n_methods} methods that use a pool, IG (α = 0) counted"
            f"{product}\n"
            f"  {int(free.sum())} of None, which uses no pool: one run per backbone, fraction and "
            f"seed serves every pool")


@per_study()
def map_table(frame: pd.DataFrame | Studies, aucs: bool = True) -> pd.DataFrame:
    """One map of :func:`regime_maps` as chapter 9 prints it, indexed by the cell (fraction as
    ``"1%"``): ``rival``, ``IG`` and ``rival AUC`` (rounded to 3 digits), ``gap`` (``"+0.0123"``),
    ``wins–losses`` (seeds IG wins and loses, ``"3-0"``), ``p``, ``q`` and ``verdict``.
    ``aucs=False`` leaves out the two AUCs (a chapter that prints the means elsewhere). Given
    one map per data set, the data set is the outer index level."""
    _need(frame, [*CELL, "rival", "rival_backbone", "ig", "rival_mean", "gap", "wins", "losses",
                  "p_t", "q", "verdict"])
    out = pd.DataFrame({"rival": [rival_label(r) for _, r in frame.iterrows()],
                        "IG": frame["ig"].round(3), "rival AUC": frame["rival_mean"].round(3),
                        "gap": frame["gap"].map(lambda v: signed(v, 4)), "wins–losses": _wins_losses(frame),
                        "p": frame["p_t"].map(format_p), "q": frame["q"].map(format_p),
                        "verdict": frame["verdict"].map(VERDICT_WORDS)})
    out.index = _cell_index(frame)
    return out if aucs else out.drop(columns=["IG", "rival AUC"])


@per_study()
def other_metrics(table: pd.DataFrame | Studies, metrics: Sequence[str] = ("gauc", "recall@20"),
                  prefix: bool = True) -> pd.DataFrame:
    """The own-backbone map of :func:`regime_maps` in other ``metrics`` (chapter 9): per cell,
    the gap (``"<metric>: gap"``), the seeds IG wins and loses (``": wins–losses"``), the
    q-value of the decision rule run over that metric's map (``": q"``) and its verdict
    (``": verdict"``). With ``prefix=False`` (one metric only) the columns are plain ``gap``,
    ``wins–losses``, ``q`` and ``verdict``. Several studies: the data
    set is the outer index level, and each study's q-values are its own."""
    if not prefix and len(metrics) != 1:
        raise InvlearnError("other_metrics(prefix=False) takes exactly one metric: the columns "
                            "would not say which metric they hold")
    out, frame = {}, None
    for metric in metrics:
        frame = regime_maps(table, metric)["own_backbone"]
        name = f"{metric}: " if prefix else ""
        out[f"{name}gap"] = frame["gap"].map(lambda v: signed(v, 4)).to_numpy()
        out[f"{name}wins–losses"] = _wins_losses(frame)
        out[f"{name}q"] = frame["q"].map(format_p).to_numpy()
        out[f"{name}verdict"] = frame["verdict"].map(VERDICT_WORDS).to_numpy()
    if frame is None:
        raise InvlearnError("other_metrics needs at least one metric")
    return pd.DataFrame(out, index=_cell_index(frame))


def seed_gaps(table: pd.DataFrame, frame: pd.DataFrame) -> pd.DataFrame:
    """IG minus the map's rival in test AUC, seed by seed (one column per seed, rounded to 4
    digits), for each cell of ``frame``, a map of :func:`regime_maps` made from ``table``: does
    a gap of chapter 9 hold on every seed?"""
    _need(frame, [*CELL, "rival", "rival_backbone"])
    runs = share_pool_free_runs(table, POOL_FREE_ALL, any_backbone=True)
    rows = []
    for _, r in frame.iterrows():
        cell = runs[(runs["pool"] == r["pool"]) & (runs["label_fraction"] == r["label_fraction"])]
        ig = cell[(cell["method"] == "ig") & (cell["backbone"] == r["backbone"])]
        rival = cell[(cell["method"] == r["rival"]) & (cell["backbone"] == r["rival_backbone"])]
        gap = ig.set_index("seed")["auc"] - rival.drop_duplicates("seed").set_index("seed")["auc"]
        rows.append(gap)
    out = pd.DataFrame(rows)
    out.columns = [f"seed {s}" for s in out.columns]
    out.index = _cell_index(frame)
    return out.round(4)


@per_study()
def move_table(results: pd.DataFrame | Studies, variant: bool = True, digits: int | None = None
               ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Does IG's move act? (chapter 9). Per cell of :func:`regime_map`: IG's chosen variant, IG
    minus IG (α = 0) on the same seeds and its p, the share of meta-steps whose kept move changed
    θ (``moved``, ``"73.2%"``; the rest passed) and the median relative size of the move
    (``move size``, the median over runs of ``median_relative_move``, ``"1.2 × 10⁻²"``).

    Returns the map's rows with ``relative`` and ``passes`` joined, and the printed table
    indexed by the cell (fraction as ``"1%"``). ``variant=False`` leaves the variant out of the
    printed table (a chapter that shows it per fraction elsewhere). By default the gap to IG (α =
    0) has 4 digits, or one significant digit below 0.00005; ``digits`` prints every gap with
    that many, a gap that rounds to zero as an unsigned zero. Several studies: the rows gain a
    first column ``data set``, the printed table the data set as its outer index level."""
    _need(results, ["median_relative_move", "share_pass", "alpha_ratio"])
    frame = regime_map(results, "auc")
    moves = results[(results["method"] == "ig") & (results["alpha_ratio"] > 0)]
    moves = moves.groupby(list(CELL)).agg(relative=("median_relative_move", "median"),
                                          passes=("share_pass", "mean"))
    frame = frame.merge(moves.reset_index(), on=list(CELL), how="left")
    if digits is None:
        gaps = frame["ig0_diff"].map(lambda v: signed(v, 4) if abs(v) >= 5e-5 else f"{v:+.0e}")
    else:
        gaps = frame["ig0_diff"].map(lambda v: signed(v, digits))
    out = pd.DataFrame({"IG variant": frame["ig_variant"],
                        "IG − IG (α = 0)": gaps,
                        "p": frame["ig0_p_t"].map(format_p),
                        "moved": frame["share_moved"].map(lambda v: f"{v:.1%}"),
                        "move size": frame["relative"].map(power_of_ten)})
    if not variant:
        out = out.drop(columns="IG variant")
    out.index = _cell_index(frame)
    return frame, out


def by_data_set(tables: Studies) -> pd.DataFrame:
    """One table from the same table of several studies (data set's printed name → table), in
    the mapping's order: where the tables are numbered rows, a first column ``data set`` and
    rows numbered anew; otherwise the data set as the outer index level."""
    if not tables:
        raise InvlearnError("by_data_set needs at least one data set's table")
    numbered = all(isinstance(t.index, pd.RangeIndex) for t in tables.values())
    if numbered:
        return pd.concat([t.assign(**{DATA_SET: name})[[DATA_SET, *t.columns]]
                          for name, t in tables.items()], ignore_index=True)
    return pd.concat(dict(tables), names=[DATA_SET])


@per_study()
def chosen_settings(chosen: pd.DataFrame | Studies, search: Mapping[str, Mapping],
                    methods: Sequence[str] | None = None) -> pd.DataFrame:
    """What validation chose: one row per method and searched setting (printed names, ``"γ"``,
    ``"α/γ"``), one column per label fraction (``"1%"``), values as printed text (``"–"``
    where a method has no such setting or did not run). ``chosen`` is a study's ``chosen.csv``
    (or several studies' by data set: the data set becomes the outer index level), ``search``
    its spec's ``"search"`` (``"*"``: the settings every method searched); ``methods`` keeps
    those. Where ``chosen`` has a ``backbone`` column (each backbone chose its own settings),
    the rows are per method, backbone (printed) and setting."""
    _need(chosen, ["method", "label_fraction"])
    present = set(chosen["method"]) if methods is None else set(chosen["method"]) & set(methods)
    has_backbone = "backbone" in chosen
    backbones = list(dict.fromkeys(chosen["backbone"])) if has_backbone else [None]
    rows = {}
    for method in [m for m in METHOD_ORDER if m in present]:
        names = [k for k in (*search.get("*", {}), *search.get(method, {})) if k in chosen]
        for backbone in backbones:
            picked = chosen[chosen["method"] == method]
            if has_backbone:
                picked = picked[picked["backbone"] == backbone]
                if picked.empty:
                    continue
            picked = picked.set_index("label_fraction").sort_index()
            for name in names:
                key = (method_label(method), *([backbone_label(backbone)] if has_backbone
                                               else []), column_label(name))
                rows[key] = picked[name].map(lambda v: "–" if pd.isna(v) else setting_value(v))
    if not rows:
        raise InvlearnError("chosen_settings: no chosen setting of the methods asked for")
    out = pd.DataFrame(rows).T.fillna("–")
    out = out[sorted(out.columns)]
    out.columns = [percent(f) for f in out.columns]
    out.index.names = ["method", *(["backbone"] if has_backbone else []), "setting"]
    return out


def dashed(frame: pd.DataFrame, digits: int = 3) -> pd.DataFrame:
    """``frame`` for printing: every float as text with ``digits`` decimals, a missing value as
    an en dash ("–", never "NaN"); other values (counts, flags, names) as they are."""
    def text(value: object) -> object:
        if isinstance(value, (float, np.floating)):
            return "–" if np.isnan(value) else f"{value:.{digits}f}"
        return value

    return frame.astype(object).map(text)


def _wins_losses(frame: pd.DataFrame) -> list[str]:
    return [f"{w}-{n}" for w, n in zip(frame["wins"], frame["losses"])]


#: How the decision rule's verdicts read in chapter 9's tables.
VERDICT_WORDS = {"ig better": "IG ahead", "rival better": "IG behind",
                 "no difference": "no difference"}


def _cell_index(frame: pd.DataFrame) -> pd.MultiIndex:
    """A table's cells as readers see them: ("GMF", "random", "1%"), named backbone, pool, f."""
    return pd.MultiIndex.from_arrays(
        [frame["backbone"].map(backbone_label), frame["pool"],
         frame["label_fraction"].map(percent)], names=["backbone", "pool", "f"])


def _need(table: pd.DataFrame, columns: Sequence[str]) -> None:
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise InvlearnError(f"the results table lacks column(s) {', '.join(missing)}: a regime "
                            f"study's results.csv has them")
