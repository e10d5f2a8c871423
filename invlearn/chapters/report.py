"""Tables of results: mean ± std over seeds, the paper's numbers beside ours, paired tests.

Every function takes a *tidy* results table — one row per run, as written by
:func:`invlearn.grid.run_grid` (``results.csv``): parameter columns such as ``dataset``,
``backbone``, ``method``, ``seed`` and metric columns such as ``auc``, ``gauc``, ``ndcg@10``.

* :func:`summarize` — mean, standard deviation and count of metrics per group;
* :func:`paper_table` — the numbers of the paper's Tables 1 and 2 (ML-1M and Micro Video);
* :func:`side_by_side` — the paper's number, our mean ± std and the difference, per group;
* :func:`best_method` — per group, the method with the best mean of a metric (model selection
  by validation, never by test);
* :func:`paired_test` — method ``a`` against method ``b`` over matched runs (same data split and
  seed): paired t-test, sign test and Wilcoxon signed-rank test;
* :func:`mean_std`, :func:`format_p`, :func:`percent`, :func:`signed`, :func:`power_of_ten`,
  :func:`format_summary`,
  :func:`format_side_by_side` — strings for the book's tables.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..config import METHOD_LABELS, METHODS, SCORES
from ..errors import InvlearnError

#: The eight methods in the order of the paper's tables, then IG with its move switched off
#: (``"ig0"``: IG at ``alpha_ratio`` 0, see :func:`split_variants`), then the two scores that
#: learn nothing, and their printed names.
METHOD_ORDER = (*METHODS, "ig0", *SCORES)
METHOD_NAMES = {**METHOD_LABELS, "ig0": "IG (α = 0)"}
BACKBONE_NAMES = {"gmf": "GMF", "neumf": "NeuMF", "gmf_bias": "Biased GMF"}

# The paper's Tables 1 and 2 (Lin et al., WSDM 2024; NDCG@10, AUC, GAUC; single runs). Table 1
# holds None, NS, T-CE, R-CE, IDL, IG; Table 2 repeats None, NS, IDL, IG and adds DNS, SRNS
# (ours is a variant, printed SRNS*; the paper's own row is printed SRNS (paper)).
_PAPER = {
    ("ml-1m", "gmf"): {
        "none": (.9285, .7671, .6919), "ns": (.9400, .7639, .7200), "tce": (.9349, .7612, .7163),
        "rce": (.9391, .7632, .7192), "dns": (.9178, .6290, .6290), "srns": (.9176, .6253, .6293),
        "idl": (.8996, .7304, .6400), "ig": (.9521, .8318, .7642)},
    ("ml-1m", "neumf"): {
        "none": (.9214, .7524, .6856), "ns": (.9298, .7495, .7088), "tce": (.9351, .7587, .7158),
        "rce": (.9349, .7521, .7117), "dns": (.9168, .6277, .6283), "srns": (.9172, .6282, .6284),
        "idl": (.9212, .7962, .6984), "ig": (.9449, .8253, .7569)},
    ("micro-video", "gmf"): {
        "none": (.7365, .8024, .7558), "ns": (.7049, .7802, .7247), "tce": (.6994, .6486, .6956),
        "rce": (.7069, .7820, .7260), "dns": (.6878, .6310, .6356), "srns": (.6799, .6293, .6302),
        "idl": (.7272, .7858, .7335), "ig": (.7773, .8033, .7593)},
    ("micro-video", "neumf"): {
        "none": (.6649, .7504, .6916), "ns": (.6350, .7191, .6689), "tce": (.6725, .7469, .6911),
        "rce": (.6288, .7038, .6568), "dns": (.6203, .6274, .6261), "srns": (.6212, .6296, .6295),
        "idl": (.6466, .7174, .6647), "ig": (.7809, .8198, .7689)},
}
PAPER_METRICS = ("ndcg@10", "auc", "gauc")

#: The paper's Table 3 (data statistics; its ML1M counts include the unused ids 0 of users and
#: items, hence 6,041 and 3,953).
PAPER_TABLE3 = pd.DataFrame(
    {"Micro Video": [37_692, 131_690, 4_915_745, 4_546_747, 9_462_492, 0.0019],
     "ML1M": [6_041, 3_953, 836_478, 163_731, 1_000_209, 0.0419]},
    index=["users", "items", "positive", "negative", "total", "density"])


def data_statistics(tables: Sequence[pd.DataFrame], n_users: int, n_items: int) -> pd.Series:
    """The statistics of the paper's Table 3 for labeled tables with ``user``, ``item`` and
    ``label`` columns (e.g. a split's train, valid and test): users and items with a row,
    positive and negative rows, their total and the density rows / (users · items). ``n_users``
    and ``n_items`` give the id ranges (the density's denominator)."""
    rows = pd.concat(list(tables), ignore_index=True)
    positive = int((rows["label"] > 0.5).sum())
    return pd.Series({"users": int(rows["user"].nunique()), "items": int(rows["item"].nunique()),
                      "positive": positive, "negative": len(rows) - positive,
                      "total": len(rows), "density": len(rows) / (n_users * n_items)})


def _columns(group: str | Sequence[str]) -> list[str]:
    return [group] if isinstance(group, str) else list(group)


def _check(table: pd.DataFrame, columns: Sequence[str]) -> None:
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise InvlearnError(f"results table has no column(s) {missing}; it has "
                            f"{list(table.columns)}")


def paper_table() -> pd.DataFrame:
    """The paper's Tables 1 and 2 as a tidy DataFrame (book chapter 6).

    One row per (``dataset``, ``backbone``, ``method``) with ``dataset`` in ``"ml-1m"``,
    ``"micro-video"``, ``backbone`` in ``"gmf"``, ``"neumf"``, ``method`` one of
    :data:`METHOD_ORDER`, and the columns ``ndcg@10``, ``auc``, ``gauc`` (the paper's GAUC; its
    released code prints the unweighted per-user mean). 32 rows, single runs, as printed.
    """
    rows = [{"dataset": d, "backbone": b, "method": m, **dict(zip(PAPER_METRICS, values))}
            for (d, b), methods in _PAPER.items() for m, values in methods.items()]
    return pd.DataFrame(rows)


def summarize(table: pd.DataFrame, group: str | Sequence[str], metrics: Sequence[str],
              ddof: int = 1) -> pd.DataFrame:
    """Mean and standard deviation of ``metrics`` over the runs of each group.

    ``group`` names the columns that define a cell (e.g. ``["dataset", "backbone", "method"]``);
    the runs inside a cell are usually seeds. Returns a DataFrame indexed by ``group`` (in order of
    first appearance) with columns ``<metric>_mean``, ``<metric>_std`` for each metric and ``n``,
    the number of runs. The standard deviation is the sample one (``ddof=1``): NaN for a single
    run. Missing values (NaN) are skipped.
    """
    cols = _columns(group)
    metrics = list(metrics)
    _check(table, cols + metrics)
    grouped = table.groupby(cols, sort=False)
    out = {}
    for m in metrics:
        out[f"{m}_mean"] = grouped[m].mean()
        out[f"{m}_std"] = grouped[m].std(ddof=ddof)
    frame = pd.DataFrame(out)
    frame["n"] = grouped.size()
    return frame


def side_by_side(table: pd.DataFrame, metrics: Sequence[str] = PAPER_METRICS,
                 paper_dataset: str = "ml-1m",
                 group: Sequence[str] = ("backbone", "method")) -> pd.DataFrame:
    """Our mean and std beside the paper's number, per group (book chapter 6).

    ``table`` holds the runs of *one* of our data sets (filter it first); ``paper_dataset``
    picks the paper's numbers (``"ml-1m"`` or ``"micro-video"``). ``group`` must be columns the
    paper's table has (``backbone``, ``method``). Returns a DataFrame indexed by ``group``, with
    ``<metric>_paper``, ``<metric>_mean``, ``<metric>_std`` and ``<metric>_diff`` (our mean minus
    the paper's) for each metric, and ``n``. Groups the paper does not report get NaN there.
    """
    cols, metrics = list(group), list(metrics)
    paper = paper_table()
    paper = paper[paper["dataset"] == paper_dataset].set_index(cols)
    unknown = [m for m in metrics if m not in paper.columns]
    if unknown:
        raise InvlearnError(f"the paper reports only {list(PAPER_METRICS)}, not {unknown}")
    ours = summarize(table, cols, metrics)
    out = {}
    for m in metrics:
        out[f"{m}_paper"] = paper[m].reindex(ours.index)
        out[f"{m}_mean"] = ours[f"{m}_mean"]
        out[f"{m}_std"] = ours[f"{m}_std"]
        out[f"{m}_diff"] = ours[f"{m}_mean"] - out[f"{m}_paper"]
    frame = pd.DataFrame(out, index=ours.index)
    frame["n"] = ours["n"]
    return frame


def best_method(table: pd.DataFrame, metric: str, group: str | Sequence[str] | None = None,
                exclude: Sequence[str] = (), by: str = "method",
                higher_is_better: bool = True) -> pd.Series | str:
    """The method with the best mean ``metric`` over runs, per group.

    Use a *validation* metric (``valid_auc``) to pick a baseline fairly: picking it by its test
    score would favour the baseline by the luck of the test set. ``exclude`` drops methods first
    (e.g. ``("ig",)`` for "the best baseline"). With ``group=None`` returns one name; otherwise a
    Series of names indexed by ``group``. Ties go to the method listed first in the table.
    """
    _check(table, [metric, by] + ([] if group is None else _columns(group)))
    rows = table[~table[by].isin(list(exclude))]
    if rows.empty:
        raise InvlearnError(f"no runs left after excluding {list(exclude)}")
    cols = [] if group is None else _columns(group)
    means = rows.groupby(cols + [by], sort=False)[metric].mean()
    if not higher_is_better:
        means = -means
    if group is None:
        return str(means.idxmax())
    best = means.groupby(level=list(range(len(cols))), sort=False).idxmax()
    return best.map(lambda key: key[-1]).rename(by)


def _matched(table: pd.DataFrame, a: str, b: str, metric: str, match: list[str],
             by: str) -> pd.DataFrame:
    _check(table, [by, metric] + match)
    wide = {}
    for name in (a, b):
        rows = table[table[by] == name]
        if rows.empty:
            raise InvlearnError(f"no runs with {by} == {name!r}")
        if rows.duplicated(match).any():
            raise InvlearnError(f"{by} == {name!r} has several runs per {match}: filter the table "
                                "first (e.g. to one backbone) or match on more columns")
        wide[name] = rows.set_index(match)[metric]
    return pd.concat(wide, axis=1, join="inner").dropna()


def paired_test(table: pd.DataFrame, a: str, b: str, metric: str,
                match: Sequence[str] = ("dataset", "seed"), by: str = "method") -> dict[str, Any]:
    """Compare method ``a`` with method ``b`` on ``metric`` over matched runs.

    Two runs are matched when they agree on every column of ``match`` (same data split, same
    seed): filter ``table`` first to what must be held fixed (e.g. one backbone). The tests see
    the ``n`` differences ``d = a − b``:

    * ``p_t`` — paired t-test (:func:`scipy.stats.ttest_rel`), two-sided; it assumes the
      differences are roughly normal, which nothing can check with a handful of pairs;
    * ``p_sign`` — sign test: a binomial test of the ``wins`` of ``a`` among the pairs that are
      not ties, two-sided; its smallest possible value is ``min_p_sign = 2 · 0.5^n``
      (0.25 for 3 pairs, 0.031 for 6);
    * ``p_wilcoxon`` — Wilcoxon signed-rank test (exact for small n), two-sided; NaN when every
      difference is zero. With n pairs it can get no smaller than the sign test's minimum.

    Returns a dict: ``n``, ``mean_a``, ``mean_b``, ``mean_diff``, ``std_diff``, ``wins``,
    ``losses``, ``ties``, ``t``, ``p_t``, ``p_sign``, ``p_wilcoxon``, ``min_p_sign`` and
    ``note`` (a sentence on how much so few pairs can show). Values are NaN where a test is
    undefined (fewer than 2 pairs, or differences all equal for the t-test).
    """
    match = _columns(match)
    pairs = _matched(table, a, b, metric, match, by)
    if len(pairs) == 0:
        raise InvlearnError(f"no matched runs of {a!r} and {b!r} on {match}")
    return paired_stats(pairs[a].to_numpy(float), pairs[b].to_numpy(float), a)


def paired_stats(x: np.ndarray, y: np.ndarray, a: str = "a") -> dict[str, Any]:
    """The statistics of :func:`paired_test` for paired values ``x`` and ``y`` (one pair per
    seed): ``n``, means, ``mean_diff`` of ``x − y`` and its ``std_diff``, sign counts, the paired
    t-test, the sign test and the Wilcoxon test, ``min_p_sign`` and ``note``."""
    from scipy import stats

    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    n = len(x)
    diff = x - y
    wins, losses = int((diff > 0).sum()), int((diff < 0).sum())
    nan = float("nan")
    t = p_t = p_wilcoxon = nan
    if n >= 2 and np.ptp(diff) > 0:
        res = stats.ttest_rel(x, y)
        t, p_t = float(res.statistic), float(res.pvalue)
    if wins + losses > 0:
        p_sign = float(stats.binomtest(wins, wins + losses, 0.5).pvalue)
        if np.any(diff != 0):
            p_wilcoxon = float(stats.wilcoxon(diff, zero_method="wilcox").pvalue)
    else:
        p_sign = nan
    min_p = 2 * 0.5 ** n
    if min_p > 0.05:
        note = (f"only {n} pairs: no sign or rank test can reach p < 0.05 (the smallest possible "
                f"p is {min_p:.2g}); the t-test leans entirely on a normality nobody can check")
    else:
        note = (f"{n} pairs: a sign test needs {a} to win all of them to reach p = {min_p:.2g}; "
                "read any p-value as a rough indication, not a proof")
    return {"n": n, "mean_a": float(x.mean()), "mean_b": float(y.mean()),
            "mean_diff": float(diff.mean()),
            "std_diff": float(diff.std(ddof=1)) if n > 1 else nan,
            "wins": wins, "losses": losses, "ties": n - wins - losses,
            "t": t, "p_t": p_t, "p_sign": p_sign, "p_wilcoxon": p_wilcoxon,
            "min_p_sign": min_p, "note": note}


#: The decision rule of the regime study's second edition (chapter 9); a difference is claimed
#: where the Benjamini–Hochberg q-value of the paired t-test is below ``DECISION_LEVEL`` and the
#: mean gap is at least ``DECISION_GAP`` AUC.
DECISION_LEVEL = 0.05
DECISION_GAP = 0.005


def bh_qvalues(p: Sequence[float]) -> np.ndarray:
    """Benjamini–Hochberg q-values of the p-values ``p`` (chapter 9): with the ``m`` defined
    p-values sorted, ``q_(i) = min over j ≥ i of p_(j) · m / j``, capped at 1; NaN p-values stay
    NaN and do not count in ``m``. Equal to :func:`scipy.stats.false_discovery_control` (where
    scipy has it) on the defined values."""
    p = np.asarray(p, dtype=float)
    if np.any((p < 0) | (p > 1)):
        raise InvlearnError(f"p-values must lie in [0, 1], got {p[(p < 0) | (p > 1)][:3]}")
    q = np.full(len(p), np.nan)
    defined = np.flatnonzero(~np.isnan(p))
    m = len(defined)
    if m == 0:
        return q
    order = defined[np.argsort(p[defined], kind="stable")]
    scaled = p[order] * m / np.arange(1, m + 1)
    q[order] = np.minimum(np.minimum.accumulate(scaled[::-1])[::-1], 1.0)
    return q


def decision_rule(pairs: pd.DataFrame, cell: str | Sequence[str], a: str = "a", b: str = "b",
                  gap: float = DECISION_GAP, level: float = DECISION_LEVEL) -> pd.DataFrame:
    """The second edition's decision rule over all cells of one map (chapter 9).

    ``pairs`` has one row per cell and seed, the cell's columns ``cell`` and the paired values
    ``a`` and ``b`` (e.g. IG's test AUC and its rival's on the same seed). Per cell: the paired
    t-test over seeds (``p_t``), the Benjamini–Hochberg q-value over all cells (``q``, cells
    whose t-test is undefined — fewer than two seeds, or one gap on every seed — get NaN and do
    not count), the sign-test counts beside (``wins``, ``losses``, ``p_sign``), and ``verdict``:
    ``"a better"`` or ``"b better"`` where ``q < level`` and ``|gap| ≥ gap`` (``gap`` column: the
    mean of ``a − b``), else ``"no difference"``."""
    cols = _columns(cell)
    _check(pairs, [*cols, a, b])
    if pairs.empty:
        raise InvlearnError("the decision rule needs at least one cell with paired values")
    rows = []
    for key, group in pairs.groupby(cols, sort=True, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        stats_ = paired_stats(group[a].to_numpy(float), group[b].to_numpy(float), a)
        rows.append({**dict(zip(cols, key)), "n": stats_["n"], "mean_a": stats_["mean_a"],
                     "mean_b": stats_["mean_b"], "gap": stats_["mean_diff"],
                     "std_gap": stats_["std_diff"], "wins": stats_["wins"],
                     "losses": stats_["losses"], "t": stats_["t"], "p_t": stats_["p_t"],
                     "p_sign": stats_["p_sign"]})
    out = pd.DataFrame(rows)
    out["q"] = bh_qvalues(out["p_t"].to_numpy())
    found = (out["q"] < level) & (out["gap"].abs() >= gap)
    out["verdict"] = np.where(found, np.where(out["gap"] > 0, f"{a} better", f"{b} better"),
                              "no difference")
    return out


def mean_std(mean: float, std: float, digits: int = 3) -> str:
    """``"0.834 ± 0.002"``; just the mean when ``std`` is NaN (one run), ``"–"`` for no mean."""
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return "–"
    if std is None or math.isnan(std):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def format_p(p: float, digits: int = 3) -> str:
    """A p-value for a table: ``"0.031"``, ``"<0.001"`` below ``10**-digits``, ``"–"`` for NaN."""
    if p is None or math.isnan(p):
        return "–"
    floor = 10.0 ** -digits
    return f"<{floor:.{digits}f}" if p < floor else f"{p:.{digits}f}"


def percent(fraction: float) -> str:
    """A label fraction as the book prints it: ``0.01`` → ``"1%"``, ``1.0`` → ``"100%"``."""
    return f"{100 * fraction:g}%"


def signed(value: float, digits: int) -> str:
    """A difference with its sign and ``digits`` decimals; one that rounds to zero prints as an
    unsigned ``"0.000"``, never ``"-0.000"``."""
    return f"{0.0:.{digits}f}" if round(value, digits) == 0 else f"{value:+.{digits}f}"


_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def power_of_ten(x: float, digits: int = 1) -> str:
    """A small or large number as the book prints it: ``6.1e-08`` → ``"6.1 × 10⁻⁸"``, ``0`` →
    ``"0"``, NaN → ``"–"``; ``digits`` decimals in the mantissa."""
    if x is None or math.isnan(x):
        return "–"
    if x == 0:
        return "0"
    mantissa, exponent = f"{x:.{digits}e}".split("e")
    return f"{mantissa} × 10{str(int(exponent)).translate(_SUPERSCRIPT)}"


def format_summary(summary: pd.DataFrame, metrics: Sequence[str],
                   digits: int = 3) -> pd.DataFrame:
    """Turn :func:`summarize`'s output into strings ``mean ± std``, one column per metric."""
    return pd.DataFrame({m: [mean_std(x, s, digits) for x, s in
                             zip(summary[f"{m}_mean"], summary[f"{m}_std"])]
                         for m in metrics}, index=summary.index)


def format_side_by_side(frame: pd.DataFrame, metrics: Sequence[str] = PAPER_METRICS,
                        digits: int = 3) -> pd.DataFrame:
    """Turn :func:`side_by_side`'s output into strings: for each metric a ``paper`` column (the
    paper's value) and an ``ours`` column (``mean ± std``), under a two-level column header."""
    out = {}
    for m in metrics:
        out[(m, "paper")] = [mean_std(p, float("nan"), digits) for p in frame[f"{m}_paper"]]
        out[(m, "ours")] = [mean_std(x, s, digits) for x, s in
                            zip(frame[f"{m}_mean"], frame[f"{m}_std"])]
    return pd.DataFrame(out, index=frame.index)


def method_label(method: str, alpha_ratio: Any = None) -> str:
    """The printed name of a method: ``"tce"`` → ``"T-CE"``; IG with its move switched off
    (``"ig0"``, or ``"ig"`` with ``alpha_ratio`` 0) is ``"IG (α = 0)"``. Unknown names are
    returned as they are."""
    if method == "ig" and alpha_ratio is not None and not pd.isna(alpha_ratio) \
            and float(alpha_ratio) == 0:
        method = "ig0"
    return METHOD_NAMES.get(method, method)


def backbone_label(backbone: str) -> str:
    """``"gmf"`` → ``"GMF"``, ``"neumf"`` → ``"NeuMF"``, ``"gmf_bias"`` → ``"Biased GMF"``."""
    return BACKBONE_NAMES.get(backbone, backbone)


#: How a row of the paper's own numbers (:func:`paper_table`) is printed where it differs from
#: :func:`method_label`: the paper ran the original SRNS, the book runs its variant SRNS*.
PAPER_ROW_NAMES = {"srns": "SRNS (paper)"}


def label_index(frame: pd.DataFrame, paper: bool = False) -> pd.DataFrame:
    """``frame`` with backbone and method names in its index printed as the book prints them.
    ``paper=True`` for rows that hold only the paper's numbers: its SRNS is then
    ``"SRNS (paper)"``, not the book's variant ``"SRNS*"``."""
    names = {**BACKBONE_NAMES, **(PAPER_ROW_NAMES if paper else {})}
    return frame.rename(index=lambda v: names.get(v, method_label(v)))


def split_variants(table: pd.DataFrame) -> pd.DataFrame:
    """A copy of a results table where IG runs with ``alpha_ratio`` 0 are the method
    ``"ig0"``, so that every table shows IG beside IG with its move switched off."""
    out = table.copy()
    if "alpha_ratio" in out.columns:
        off = (out["method"] == "ig") & (out["alpha_ratio"].astype(float) == 0)
        out.loc[off, "method"] = "ig0"
    return out


def order_methods(table: pd.DataFrame, by: Sequence[str] = ("backbone", "method",
                                                            "seed")) -> pd.DataFrame:
    """Rows sorted by ``by``, methods in the order of :data:`METHOD_ORDER`."""
    rank = {m: k for k, m in enumerate(METHOD_ORDER)}
    cols = [c for c in by if c in table.columns]
    return table.sort_values(cols, key=lambda c: c.map(rank) if c.name == "method" else c) \
        .reset_index(drop=True)


def gaps_to(table: pd.DataFrame, metric: str, reference: str = "none",
            match: Sequence[str] = ("backbone", "seed")) -> pd.DataFrame:
    """Per run, ``metric`` minus the ``reference`` method's on the same ``match`` columns (same
    backbone and seed): one column per other method."""
    _check(table, [metric, "method", *match])
    wide = table.pivot_table(index=list(match), columns="method", values=metric)
    return wide.sub(wide[reference], axis=0).drop(columns=reference)


def paper_vs_ours(results: pd.DataFrame, dataset: str | None = None,
                  metrics: Sequence[str] = PAPER_METRICS, digits: int = 3,
                  paper_dataset: str = "ml-1m") -> pd.DataFrame:
    """The paper's Tables 1–2 beside our runs (of ``dataset``, when given), as strings indexed
    by "Backbone Method"."""
    rows = results if dataset is None else results[results["dataset"] == dataset]
    frame = side_by_side(rows, metrics, paper_dataset=paper_dataset)
    present = set(rows["method"])
    frame = frame.reindex([(b, m) for b in BACKBONE_NAMES for m in METHOD_ORDER
                           if m in present and (b, m) in frame.index])
    text = format_side_by_side(frame, metrics, digits)
    text.index = [f"{backbone_label(b)} {method_label(m)}" for b, m in text.index]
    return text


#: Printed names of result columns (metrics) and of searched settings, for table headers.
COLUMN_NAMES = {
    "auc": "AUC", "gauc": "GAUC", "gauc_unweighted": "GAUC (unweighted)", "ndcg@10": "NDCG@10",
    "ndcg@20": "NDCG@20", "recall@20": "Recall@20", "mrr": "MRR", "valid_auc": "valid AUC",
    "best_epoch": "best epoch", "lr": "γ", "tce_eps_max": "ε_max", "tce_eps_n": "ε_N",
    "rce_beta": "β", "dns_k": "K", "alpha_ratio": "α/γ", "alpha_rule": "step rule",
    "meta_steps": "meta-step schedule"}
#: Printed words for the values of IG's categorical settings (the glossary's terms).
SETTING_VALUES = {"sgd": "plain rule", "sign": "sign rule",
                  "per-test-batch": "per training-test batch",
                  "per-train-batch": "per supervised batch"}


def column_label(name: str) -> str:
    """The printed name of a result column or searched setting: ``"ndcg@10"`` → ``"NDCG@10"``,
    ``"tce_eps_max"`` → ``"ε_max"``; unknown names are returned as they are."""
    return COLUMN_NAMES.get(name, name)


def setting_value(value: Any) -> str:
    """One setting's value as the book prints it: ``30000.0`` → ``"30,000"``, ``2.0`` → ``"2"``,
    ``0.1`` → ``"0.1"``, ``"sgd"`` → ``"plain rule"`` (words from :data:`SETTING_VALUES`;
    other strings as they are)."""
    if isinstance(value, str):
        return SETTING_VALUES.get(value, value)
    if float(value).is_integer() and abs(value) >= 1000:
        return f"{int(value):,}"
    return f"{float(value):g}"


def setting_label(row: Any, names: Sequence[str]) -> str:
    """The settings ``names`` of one run as the book prints them, e.g. ``"ε_max = 0.05, ε_N =
    30,000"`` or ``"plain rule, α/γ = 10, per training-test batch"``: names through
    :func:`column_label`, values through :func:`setting_value`, IG's categorical settings as
    their words alone. Settings missing or NaN in ``row`` are left out; none gives ``"–"``."""
    parts = []
    for name in names:
        value = row.get(name)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            continue
        if isinstance(value, str) and value in SETTING_VALUES:
            parts.append(SETTING_VALUES[value])
        else:
            parts.append(f"{column_label(name)} = {setting_value(value)}")
    return ", ".join(parts) if parts else "–"
