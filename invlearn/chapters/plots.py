"""The book's figures, drawn from the :class:`~invlearn.training.History` of a training run.

Chapters 3 and 5 introduce these figures and the result chapters reuse them:

* :func:`plot_idl_weights` — distributions of the IDL weights ``w1`` and ``w0`` of the unlabeled
  pairs at two epochs (chapter 3; the paper's Figures 4–5), or of ``w1`` alone with the share
  above 0.5 beside the truly positive share (chapter 5);
* :func:`plot_annotation_accuracy` and :func:`plot_annotation_by_distance` (with the table of
  :func:`annotation_by_distance`) — how often the weights name the true label, over epochs and
  by how far a pair lies from the true decision boundary (chapter 3; simulated feed only);
* :func:`plot_directions` — IG's training-test loss over meta-steps, each point marked by the
  direction taken (chapter 5; the paper's Figure 6), with the shares of
  :func:`direction_shares`;
* :func:`plot_alpha_study` — IG's validation and test AUC against the step size α, for each
  step rule (chapter 5; the paper's Figure 7);
* :func:`plot_learning_curves` — per-epoch training loss and validation metrics of several runs;
* :func:`plot_regime_map`, :func:`plot_regime_maps`, :func:`plot_sparsity_curves` and
  :func:`plot_sparsity_panels` — chapter 9's regime maps and the paper's Figure 1 across label
  sparsity;
* :func:`plot_annotation_margins` — how far IDL's and IG's annotation lands above or below the
  better trivial rule, across label sparsity (chapter 9).

Every function returns the matplotlib ``Figure`` (drawn with ``pyplot``, so a notebook shows it).
matplotlib is an optional dependency of the package: ``pip install "invlearn[book]"``.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InvlearnError
from .report import format_p, method_label, percent, setting_value

try:
    import matplotlib.pyplot as plt
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise InvlearnError('invlearn.chapters.plots needs matplotlib: pip install '
                        '"invlearn[book]"') from exc

#: The three IG directions (:data:`invlearn.ig.DIRECTIONS`) and the colour and marker each
#: has in every figure.
DIRECTION_STYLE: dict[str, tuple[str, str]] = {
    "direct": ("tab:blue", "o"),
    "inverse": ("tab:red", "^"),
    "pass": ("0.35", "x"),
}

#: Axis labels (with units) of the per-epoch columns of ``History.table()``.
METRIC_LABELS: dict[str, str] = {
    "loss": "training loss (nats per row)",
    "valid_bce": "validation BCE (nats per row)",
    "valid_auc": "validation AUC (probability, 0–1)",
    "valid_gauc": "validation GAUC (probability, 0–1)",
    "valid_gauc_unweighted": "validation GAUC, unweighted (0–1)",
    "valid_ndcg@10": "validation NDCG@10 (0–1)",
    "valid_mrr": "validation MRR (0–1)",
    "seconds": "time per epoch (s)",
}

_LOSS_COLUMNS = ["loss_direct", "loss_pass", "loss_inverse"]


def _epochs_of(history: Any, epochs: Sequence[int] | None) -> list[int]:
    recorded = sorted(history.weights)
    if not recorded:
        raise InvlearnError("this history has no IDL weights: train with method 'idl' or 'ig'")
    chosen = [recorded[0], recorded[-1]] if epochs is None else [int(e) for e in epochs]
    missing = [e for e in chosen if e not in history.weights]
    if missing:
        raise InvlearnError(f"no weights recorded at epoch(s) {missing}; recorded: "
                            f"{recorded[0]}..{recorded[-1]}")
    return chosen


def plot_idl_weights(history: Any, epochs: Sequence[int] | None = None,
                     bins: int = 20, w0: bool = True, truth: Any = None) -> Figure:
    """Histograms of ``w1`` and ``w0 = 1 − w1`` of the unlabeled pairs at some epochs.

    Book chapter 3 (and chapter 5 for IG); the paper's Figures 4–5 show the same two
    distributions at the first and the final epoch. ``epochs`` defaults to the first and last
    epoch recorded in ``history.weights``. One row of two panels (``w1``, ``w0``) per epoch; the
    bars give the share of the recorded unlabeled pairs in each weight bin, in percent.
    ``w0=False`` draws the ``w1`` panels only (``w0`` mirrors them). With a ``truth`` (the
    simulated feed's, ``true_label(users, items)``), each ``w1`` panel also prints the share of
    pairs above 0.5 and the share that is truly positive (chapter 5).
    """
    chosen = _epochs_of(history, epochs)
    columns = 2 if w0 else 1
    fig, axes = plt.subplots(len(chosen), columns, figsize=(4 * columns, 2.4 * len(chosen)),
                             sharex=True, sharey=True, squeeze=False)
    edges = np.linspace(0.0, 1.0, bins + 1)
    for row, epoch in zip(axes, chosen):
        rec = history.weights[epoch]
        w1 = np.asarray(rec["w1"], dtype=np.float64)
        share = np.full(len(w1), 100.0 / max(len(w1), 1))
        panels = [(row[0], w1, "w1 (positive label)", "tab:green")]
        if w0:
            panels.append((row[1], 1.0 - w1, "w0 (negative label)", "tab:purple"))
        for ax, values, name, colour in panels:
            heights = np.histogram(values, bins=edges, weights=share)[0]
            _weight_panel(ax, edges, heights, colour, f"{name}, epoch {epoch}")
        if truth is not None:
            truly = float(np.mean(truth.true_label(rec["user"], rec["item"])))
            _share_marks(row[0], float(np.mean(w1 > 0.5)), truly,
                         np.histogram(w1, bins=edges, weights=share)[0], edges)
    return _finish_weights(fig, axes, "weight (unitless, 0–1)")


def _share_marks(ax: Axes, above: float, truly: float, heights: np.ndarray,
                 edges: np.ndarray) -> None:
    """The share of pairs above 0.5 and the truly positive share, in percent, printed in the
    top corner over the half of the panel (left or right of 0.5) whose bars are lower. The
    bars add up to 100 %, so that half's bars stay at or below 50 % and the percent axis can
    end at 100 % without headroom for the text."""
    left = float(heights[edges[:-1] < 0.5].max(initial=0.0))
    right = float(heights[edges[:-1] >= 0.5].max(initial=0.0))
    x, ha = (0.02, "left") if left <= right else (0.98, "right")
    ax.set_ylim(0.0, 100.0)
    ax.text(x, 0.96, f"w1 > 0.5: {100 * above:.0f} % of pairs\n"
            f"truly positive: {100 * truly:.0f} %", transform=ax.transAxes, fontsize=8,
            va="top", ha=ha)


def _weight_panel(ax: Axes, edges: np.ndarray, percent: np.ndarray, colour: str,
                  title: str) -> None:
    """One histogram panel of IDL weights, in percent of the pairs, with the 0.5 line."""
    ax.bar(edges[:-1], percent, width=np.diff(edges), align="edge", color=colour, alpha=0.8)
    ax.axvline(0.5, color="0.3", lw=0.8, ls="--")
    ax.set_title(title, fontsize=10)


def _finish_weights(fig: Figure, axes: np.ndarray, xlabel: str) -> Figure:
    for row in axes:
        row[0].set_ylabel("unlabeled pairs (%)")
    for ax in axes[-1]:
        ax.set_xlabel(xlabel)
    fig.tight_layout()
    return fig


def plot_annotation_accuracy(histories: Mapping[str, Any], truth: Any,
                             reference: Mapping[str, float] | None = None,
                             ax: Axes | None = None) -> Figure:
    """Per epoch, the share of unlabeled pairs whose IDL annotation (``w1 > 0.5``) is the true
    label, one line per run (book chapter 3; needs the simulated feed's ``truth``).

    ``reference`` adds a dashed horizontal line per entry, e.g. the accuracy of calling every
    sampled pair negative (what negative sampling assumes).
    """
    own = ax is None
    fig, ax = _figure(ax, (6, 3.5))
    for label, history in histories.items():
        acc = history.annotation_accuracy(truth)
        ax.plot(acc.index, acc.to_numpy(), marker=".", label=label)
    for k, (label, value) in enumerate((reference or {}).items()):
        ax.axhline(value, color=f"{0.2 + 0.25 * k:.2f}", ls="--", lw=1, label=label)
    ax.set_xlabel("epoch (passes over the training rows)")
    ax.set_ylabel("annotation accuracy (share, 0–1)")
    ax.legend(fontsize=9)
    if own:
        fig.tight_layout()
    return fig


def annotation_by_distance(history: Any, truth: Any, epoch: int | None = None,
                           bins: int | Sequence[float] = 5, signed: bool = False) -> pd.DataFrame:
    """IDL's annotation accuracy binned by a pair's distance to the true decision boundary.

    Book chapter 3. For the unlabeled pairs recorded at ``epoch`` (default: the last), the
    distance is ``d = truth.affinity(u, i) − truth.threshold``: pairs near ``d = 0`` are the hard
    ones, whose true label a model can barely tell. ``signed=False`` bins ``|d|``, ``True`` bins
    ``d`` itself (negatives left, positives right). ``bins`` is a number of equal-count
    (quantile) bins or a sequence of bin edges. One row per non-empty bin: ``low``, ``high``
    (edges), ``distance`` (median ``d`` or ``|d|`` in the bin), ``pairs``, ``accuracy``,
    ``annotated_positive`` (share with ``w1 > 0.5``) and ``truly_positive``.
    """
    epoch = _epochs_of(history, None if epoch is None else [epoch])[-1]
    rec = history.weights[epoch]
    users, items = np.asarray(rec["user"]), np.asarray(rec["item"])
    dist = np.asarray(truth.affinity(users, items), dtype=np.float64) - float(truth.threshold)
    if not signed:
        dist = np.abs(dist)
    from ..training import annotation

    positive, true = annotation(rec, truth, recorded=False)
    if isinstance(bins, (int, np.integer)):
        edges = np.unique(np.quantile(dist, np.linspace(0.0, 1.0, int(bins) + 1)))
    else:
        edges = np.asarray(bins, dtype=np.float64)
    which = np.clip(np.searchsorted(edges, dist, side="right") - 1, 0, len(edges) - 2)
    inside = (dist >= edges[0]) & (dist <= edges[-1])
    rows = []
    for k in range(len(edges) - 1):
        mask = inside & (which == k)
        if mask.any():
            rows.append({"low": edges[k], "high": edges[k + 1],
                         "distance": float(np.median(dist[mask])), "pairs": int(mask.sum()),
                         "accuracy": float(np.mean(positive[mask] == true[mask])),
                         "annotated_positive": float(positive[mask].mean()),
                         "truly_positive": float(true[mask].mean())})
    return pd.DataFrame(rows)


def plot_annotation_by_distance(tables: Mapping[str, pd.DataFrame], ax: Axes | None = None,
                                signed: bool = True) -> Figure:
    """Annotation accuracy against the distance to the true boundary, one line per table of
    :func:`annotation_by_distance` (book chapter 3), with a dotted line at distance 0. With
    ``signed`` (tables of signed distances), each line breaks at 0 between the truly negative
    and the truly positive side."""
    own = ax is None
    fig, ax = _figure(ax, (6, 3.5))
    for label, table in tables.items():
        x, y = table["distance"].to_numpy(float), table["accuracy"].to_numpy(float)
        if signed:  # no line across the boundary: the two sides hold different true labels
            cut = int(np.searchsorted(x, 0.0))
            x, y = np.insert(x, cut, np.nan), np.insert(y, cut, np.nan)
        ax.plot(x, y, marker="o", label=label)
    ax.axvline(0.0, color="0.3", lw=0.8, ls=":")
    what = "a(u, i) − t" if signed else "|a(u, i) − t|"
    ax.set_xlabel(f"true affinity minus threshold, {what} (affinity units)")
    ax.set_ylabel("annotation accuracy (share, 0–1)")
    ax.set_ylim(-0.02, 1.02)
    ax.legend(fontsize=9)
    if own:
        fig.tight_layout()
    return fig


def direction_shares(meta: pd.DataFrame) -> pd.Series:
    """Share of IG meta-steps that took each direction (``direct``, ``inverse``, ``pass``;
    zero where a direction never won), from ``History.meta`` (book chapter 5)."""
    counts = meta["direction"].value_counts()
    total = max(int(counts.sum()), 1)
    return pd.Series({d: counts.get(d, 0) / total for d in DIRECTION_STYLE}, name="share")


def plot_directions(meta: pd.DataFrame, ax: Axes | None = None, title: str | None = None,
                    legend: bool = True, control: pd.DataFrame | None = None,
                    control_label: str = "IG (α = 0)") -> Figure:
    """IG's training-test loss of the kept candidate over meta-steps, each point marked by the
    direction taken (book chapter 5; the paper's Figure 6).

    ``meta`` is ``History.meta``; its rows are numbered in training order (meta-step 1, 2, ...
    over all epochs). Draws one grey line through all points and one marker series per
    direction (four lines in all), labelled with the direction's share. ``control``, another
    run's ``History.meta`` (IG with its move off), adds its kept loss as a dashed black line,
    the fifth line, labelled ``control_label``.
    """
    own = ax is None
    fig, ax = _figure(ax, (7, 3.5))
    meta = meta.sort_values(["epoch", "step"], kind="stable")
    steps = np.arange(1, len(meta) + 1)
    kept = meta[_LOSS_COLUMNS].min(axis=1).to_numpy()
    ax.plot(steps, kept, color="0.75", lw=1, zorder=1)
    shares = direction_shares(meta)
    for direction, (colour, marker) in DIRECTION_STYLE.items():
        mask = meta["direction"].to_numpy() == direction
        ax.plot(steps[mask], kept[mask], ls="none", marker=marker, ms=4, color=colour,
                label=f"{direction} ({shares[direction]:.0%})", zorder=2)
    if control is not None:
        control = control.sort_values(["epoch", "step"], kind="stable")
        ax.plot(np.arange(1, len(control) + 1), control[_LOSS_COLUMNS].min(axis=1).to_numpy(),
                color="black", ls="--", lw=1, label=control_label, zorder=3)
    ax.set_xlabel("meta-step (one per training-test batch)")
    ax.set_ylabel("training-test BCE (nats per row)")
    if title:
        ax.set_title(title, fontsize=10)
    if legend:
        ax.legend(fontsize=8)
    if own:
        fig.tight_layout()
    return fig


def plot_alpha_study(table: pd.DataFrame, ax: Axes | None = None,
                     title: str | None = None) -> Figure:
    """IG's AUC against the step size α, one colour per step rule (book chapter 5; the
    paper's Figure 7, read as the AUC it leads to).

    ``table`` is indexed by ``(rule, α / γ)`` and has the columns ``"valid AUC"`` and
    ``"test AUC"``. Each rule gets a solid validation line and a dotted test line over its
    positive α / γ on a log axis; the rows at α = 0 (IG with its move switched off) draw one
    dashed line at their mean validation AUC.
    """
    missing = {"valid AUC", "test AUC"} - set(table.columns)
    if missing or table.index.nlevels != 2:
        raise InvlearnError("plot_alpha_study needs a table indexed by (rule, α / γ) with the "
                            f"columns 'valid AUC' and 'test AUC' (missing: {sorted(missing)})")
    ratios = table.index.get_level_values(1).astype(float)
    if not (ratios > 0).any():
        raise InvlearnError("plot_alpha_study needs at least one row with α / γ > 0")
    own = ax is None
    fig, ax = _figure(ax, (6.5, 3.8))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for k, rule in enumerate(table.index.get_level_values(0).unique()):
        rows = table.loc[rule]
        rows = rows[rows.index.astype(float) > 0].sort_index()
        if rows.empty:
            continue
        colour = colours[k % len(colours)]
        ax.plot(rows.index, rows["valid AUC"], "o-", color=colour,
                label=f"{setting_value(rule)}, validation")
        ax.plot(rows.index, rows["test AUC"], "o:", color=colour, alpha=0.6,
                label=f"{setting_value(rule)}, test")
    control = table[ratios == 0]
    if len(control):
        ax.axhline(float(control["valid AUC"].mean()), color="k", ls="--", lw=1,
                   label="IG (α = 0), validation")
    ax.set(xscale="log", xlabel="α / γ (log scale)", ylabel="AUC of the kept epoch (0–1)")
    if title:
        ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    if own:
        fig.tight_layout()
    return fig


def plot_learning_curves(histories: Mapping[str, Any],
                         metrics: Sequence[str] = ("loss", "valid_auc")) -> Figure:
    """Per-epoch curves of several runs, one panel per column of ``History.table()`` named in
    ``metrics`` and one line per run (book chapters 3 and 5, and the result chapters)."""
    if not histories:
        raise InvlearnError("plot_learning_curves needs at least one History")
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.2 * len(metrics), 3.3), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        for label, history in histories.items():
            table = history.table()
            if metric not in table:
                raise InvlearnError(f"no column {metric!r} in the history; it has "
                                    f"{', '.join(table.columns)}")
            ax.plot(table.index, table[metric], marker=".", label=label)
        ax.set_xlabel("epoch (passes over the training rows)")
        ax.set_ylabel(METRIC_LABELS.get(metric, metric))
    axes[0][0].legend(fontsize=9)
    fig.tight_layout()
    return fig


def _figure(ax: Axes | None, size: tuple[float, float]) -> tuple[Figure, Axes]:
    if ax is not None:
        return ax.figure, ax
    fig, ax = plt.subplots(figsize=size)
    return fig, ax


def plot_against_paper(results: pd.DataFrame, metric: str, ylabel: str, axes: Sequence[Axes],
                       datasets: Sequence[str] = ("ml-1m", "ml-1m-paper"),
                       paper_dataset: str = "ml-1m", baseline: str | None = None) -> None:
    """Per backbone (one axis each: GMF, NeuMF), each method's mean ± std of ``metric`` over
    seeds on each of our ``datasets``, with the paper's number as a cross (chapter 6).

    With ``baseline`` (e.g. ``"none"``) each run is shown as its difference to the baseline's
    run on the same data set and seed, and the paper's number as its difference to the paper's
    baseline: the gaps the paper reports, and ours, on one scale around a line at zero."""
    from . import report

    paper = report.paper_table()
    paper = paper[paper["dataset"] == paper_dataset].set_index(["backbone", "method"])
    table = results
    if baseline is not None:
        if baseline not in set(results["method"]):
            raise InvlearnError(f"no run of the baseline {baseline!r} to take differences to")
        base = results[results["method"] == baseline].set_index(
            ["dataset", "backbone", "seed"])[metric]
        keys = pd.MultiIndex.from_frame(results[["dataset", "backbone", "seed"]])
        table = results.assign(**{metric: results[metric].to_numpy()
                                  - base.reindex(keys).to_numpy()})
        if metric in paper.columns:
            paper = paper.assign(**{metric: paper[metric] - paper[metric].xs(
                baseline, level="method").reindex(paper.index.get_level_values("backbone"))
                .to_numpy()})
    ours = report.summarize(table, ["dataset", "backbone", "method"], [metric])
    methods = [m for m in report.METHOD_ORDER if m in set(results["method"])]
    x = np.arange(len(methods))
    colours = ("tab:blue", "tab:orange", "tab:green")
    for ax, backbone in zip(axes, report.BACKBONE_NAMES):
        for k, dataset in enumerate(datasets):
            rows = ours.reindex([(dataset, backbone, m) for m in methods])
            shift = (k - (len(datasets) - 1) / 2) * 0.3
            ax.errorbar(x + shift, rows[f"{metric}_mean"], yerr=rows[f"{metric}_std"].fillna(0),
                        fmt="o", ms=4, capsize=3, color=colours[k % 3], label=f"ours, {dataset}")
        if metric in paper.columns:
            values = paper[metric].reindex([(backbone, m) for m in methods])
            ax.plot(x, values, "kx", ms=7, label="paper")
        if baseline is not None:
            ax.axhline(0, color="grey", lw=1, ls="--")
        ax.set_xticks(x, [report.method_label(m) for m in methods], rotation=30)
        ax.set_title(report.backbone_label(backbone))
        ax.set_xlabel("method")
        ax.grid(axis="y", alpha=0.3)
    axes[0].set_ylabel(ylabel)
    axes[0].legend(loc="lower left", fontsize=8)


def plot_weight_histograms(records: Mapping[str, Mapping[str, Any]]) -> Figure:
    """The paper's Figures 4–5 from run records (``train --histories``, chapter 6): for each
    named record (one row), the distribution of the IDL weight ``w1`` of the unlabeled pairs
    at the first and the last recorded epoch (two panels), in percent of the pairs
    (``w0 = 1 − w1`` is its mirror image)."""
    if not records:
        raise InvlearnError("plot_weight_histograms needs at least one record")
    fig, axes = plt.subplots(len(records), 2, figsize=(8, 2.4 * len(records)), sharex=True,
                             squeeze=False)
    for row, (name, record) in zip(axes, records.items()):
        hist = record.get("w1_histogram")
        if not hist:
            raise InvlearnError(f"record {name!r} has no w1_histogram (train with --histories)")
        edges = np.asarray(hist["edges"])
        epochs = sorted(int(e) for e in hist if e != "edges")
        for ax, epoch in zip(row, (epochs[0], epochs[-1])):
            counts = np.asarray(hist[str(epoch)], dtype=np.float64)
            _weight_panel(ax, edges, 100 * counts / max(counts.sum(), 1), "tab:green",
                          f"{name}, epoch {epoch}")
    return _finish_weights(fig, axes, "w1, the weight of the positive label (0–1)")


def plot_regime_map(table: pd.DataFrame, value: str = "diff", p_value: str = "p_t",
                    ax: Axes | None = None, title: str | None = None,
                    label: str = "IG − best baseline, test AUC") -> Figure:
    """Chapter 9's regime map: one row per backbone × pool, one column per label fraction, each cell
    coloured by ``value`` (a row of :func:`~invlearn.chapters.regime.regime_map`; blue where IG is
    ahead, red where it is behind, white for zero, the colour scale symmetric) and printed with its
    value, the paired-test p-value and the baseline it is measured against. A map of
    :func:`~invlearn.chapters.regime.regime_maps` draws with ``value="gap"``, ``p_value="q"`` and
    names its rival (with the rival's backbone where it differs). Cells the study did not run stay
    grey."""
    from matplotlib.colors import TwoSlopeNorm

    from .regime import rival_label
    from .report import backbone_label, method_label, percent

    need = ["backbone", "pool", "label_fraction", value]
    missing = [c for c in need if c not in table.columns]
    if missing:
        raise InvlearnError(f"plot_regime_map needs column(s) {', '.join(missing)} "
                            "(invlearn.chapters.regime.regime_map gives them)")
    rows, fractions = _map_axes(table)
    grid = np.full((len(rows), len(fractions)), np.nan)
    for _, r in table.iterrows():
        grid[rows.index((r["backbone"], r["pool"])), fractions.index(r["label_fraction"])] = r[value]
    limit = float(np.nanmax(np.abs(grid))) or 1.0
    fig, ax = _figure(ax, (1.5 + 1.5 * len(fractions), 0.9 + 0.75 * len(rows)))
    cmap = plt.get_cmap("RdBu").with_extremes(bad="0.85")
    image = ax.imshow(np.ma.masked_invalid(grid), cmap=cmap, aspect="auto",
                      norm=TwoSlopeNorm(0.0, -limit, limit))
    for _, r in table.iterrows():
        i, j = rows.index((r["backbone"], r["pool"])), fractions.index(r["label_fraction"])
        text = f"{r[value]:+.3f}"
        if p_value in r and not pd.isna(r[p_value]):  # as the tables print it: "<0.001", "0.021"
            shown = format_p(r[p_value])
            text += f"\n{'q' if p_value == 'q' else 'p'} {'' if shown[0] == '<' else '= '}{shown}"
        if "baseline" in r:
            text += f"\nvs {method_label(r['baseline'])}"
        elif "rival" in r:  # the second edition's maps; another backbone on a line of its own
            text += "\nvs " + rival_label(r).replace(" (", "\n(")
        strong = abs(r[value]) > 0.6 * limit
        ax.text(j, i, text, ha="center", va="center", fontsize=8,
                color="white" if strong else "black")
    ax.set_xticks(range(len(fractions)), [percent(f) for f in fractions])
    ax.set_yticks(range(len(rows)), [f"{backbone_label(b)}, {p}" for b, p in rows])
    ax.set_xlabel("label fraction f of the training rows")
    ax.set_ylabel("backbone, unlabeled pool")
    fig.colorbar(image, ax=ax, label=label, shrink=0.9)
    if title:
        ax.set_title(title)
    return fig


def plot_sparsity_curves(summary: pd.DataFrame, methods: Sequence[str], metric: str = "auc",
                         ax: Axes | None = None, title: str | None = None) -> Figure:
    """Mean ± std of ``metric`` over seeds against the label fraction f (log scale), one line
    per method: the paper's Figure 1 (labeled only, labeled + unlabeled, labeled-guided) redrawn
    across sparsity (chapter 9). ``summary`` is indexed by (method, label_fraction) with columns
    ``<metric>_mean`` and ``<metric>_std`` (:func:`invlearn.chapters.report.summarize`)."""
    from .report import method_label, percent

    fig, ax = _figure(ax, (5.5, 3.6))
    styles = {"none": ("0.3", "s", "-"), "ns": ("tab:orange", "v", "-"),
              "idl": ("tab:green", "D", "-"), "ig": ("tab:blue", "o", "-"),
              "ig0": ("tab:cyan", "o", ":"), "tce": ("tab:purple", "^", "--"),
              "rce": ("tab:brown", ">", "--"), "dns": ("tab:pink", "<", "--")}
    for method in methods:
        if method not in summary.index.get_level_values(0):
            continue
        rows = summary.loc[method].sort_index()
        colour, marker, line = styles.get(method, ("black", "o", "-"))
        ax.errorbar(rows.index, rows[f"{metric}_mean"], yerr=rows[f"{metric}_std"].fillna(0),
                    color=colour, marker=marker, ls=line, ms=4, capsize=3,
                    label=method_label(method))
    ax.set_xscale("log")
    fractions = sorted(set(summary.index.get_level_values(1)))
    ax.set_xticks(fractions, [percent(f) for f in fractions])
    ax.minorticks_off()
    ax.set_xlabel("label fraction f of the training rows (log scale)")
    ax.set_ylabel(f"test {metric.upper()} (0–1)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title)
    return fig


def _map_axes(table: pd.DataFrame) -> tuple[list[tuple[str, str]], list[float]]:
    """A regime map's rows (backbone, pool) and columns (label fractions), sorted."""
    rows = sorted({(b, p) for b, p in zip(table["backbone"], table["pool"])})
    return rows, sorted(set(table["label_fraction"]))


def plot_regime_maps(maps: Mapping[str, pd.DataFrame], where: str) -> Figure:
    """Chapter 9's two maps of :func:`~invlearn.chapters.regime.regime_maps`, one above the
    other, each drawn by :func:`plot_regime_map` with the gap and q per cell, and a black frame
    on each cell where the decision rule finds a difference (``verdict`` other than
    ``"no difference"``). ``where`` (the data set) opens each title."""
    from matplotlib.patches import Rectangle

    from .regime import MAP_TITLES, MAPS

    missing = [name for name in MAPS if name not in maps]
    if missing:
        raise InvlearnError(f"plot_regime_maps needs the map(s) {', '.join(missing)} "
                            "(invlearn.chapters.regime.regime_maps gives them)")
    n_rows = len(_map_axes(maps["everything"])[0])
    fig, axes = plt.subplots(len(MAPS), 1, figsize=(9.5, 2 * (1.3 + 0.8 * n_rows)))
    for ax, name in zip(axes, MAPS):
        frame = maps[name]
        plot_regime_map(frame, value="gap", p_value="q", ax=ax, label="IG − rival, test AUC",
                        title=f"{where}: {MAP_TITLES[name]}")
        rows, fractions = _map_axes(frame)
        for _, r in frame[frame["verdict"] != "no difference"].iterrows():
            i, j = rows.index((r["backbone"], r["pool"])), fractions.index(r["label_fraction"])
            ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, lw=2.5, ec="black"))
    fig.tight_layout()
    return fig


def plot_sparsity_panels(summary: pd.DataFrame, pools: Sequence[str], title: str,
                         methods: Sequence[str] = ("none", "ns", "idl", "ig", "ig0"),
                         scores: Sequence[str] = ("popularity", "item_mean")) -> Figure:
    """The paper's Figure 1 across sparsity, one panel per unlabeled pool (chapter 9): the
    :func:`plot_sparsity_curves` of ``methods`` and, in grey, the mean test AUC of the
    ``scores`` that learn nothing (dashed, dotted), with one legend below the panels.
    ``summary`` is :func:`~invlearn.chapters.regime.means_by_fraction`'s first table (indexed by
    pool, method and fraction)."""
    from .report import method_label

    if not pools:
        raise InvlearnError("plot_sparsity_panels needs at least one pool")
    fig, axes = plt.subplots(1, len(pools), figsize=(5.2 * len(pools), 3.9), sharey=True,
                             squeeze=False)
    for k, (ax, pool) in enumerate(zip(axes[0], pools)):
        rows = summary.loc[pool]
        plot_sparsity_curves(rows, methods, ax=ax, title=f"{title}, {pool} pool")
        for method, line in zip(scores, ("--", ":")):
            if method in rows.index.get_level_values(0):
                score = rows.loc[method].sort_index()
                ax.plot(score.index, score["auc_mean"], color="0.55", ls=line, marker="x",
                        label=method_label(method))
        handles, labels = ax.get_legend_handles_labels()
        ax.get_legend().remove()
        if k:
            ax.set_ylabel("")
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=8)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    return fig


def plot_annotation_margins(annotation: pd.DataFrame, title: str,
                            methods: Sequence[str] = ("idl", "ig", "ig0"),
                            baseline_label: str = "better trivial rule") -> Figure:
    """How far each method's w1 > 0.5 annotation lands above or below the better trivial rule,
    against the label fraction (chapter 9): one line per method (mean ± std over seeds) and a
    dashed line at 0. ``annotation`` is :func:`~invlearn.chapters.regime.annotation_table`'s
    table for one backbone and pool (columns ``method``, ``label_fraction``,
    ``over_best_trivial`` and ``accuracy_std``)."""
    needed = {"method", "label_fraction", "over_best_trivial", "accuracy_std"}
    missing = needed - set(annotation.columns)
    if missing:
        raise InvlearnError(f"plot_annotation_margins needs the columns {sorted(missing)}")
    fig, ax = plt.subplots(figsize=(6, 3.4))
    ax.axhline(0, color="k", ls="--", lw=1, label=baseline_label)
    colours = {"idl": "tab:green", "ig": "tab:blue", "ig0": "tab:cyan"}
    for method in methods:
        rows = annotation[annotation["method"] == method].sort_values("label_fraction")
        if len(rows):
            ax.errorbar(rows["label_fraction"], rows["over_best_trivial"],
                        yerr=rows["accuracy_std"].fillna(0), marker="o", capsize=3,
                        color=colours.get(method), label=method_label(method))
    fractions = sorted(annotation["label_fraction"].unique())
    ax.set_xscale("log")
    ax.set_xticks(fractions, [percent(f) for f in fractions])
    ax.minorticks_off()
    ax.set_xlabel("label fraction f (log scale)")
    ax.set_ylabel("accuracy − best trivial")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
