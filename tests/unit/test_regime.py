"""Chapter 9's regime map: IG against the validation-chosen baseline, per backbone × pool ×
label fraction, on small tables whose answers are known."""
import matplotlib
import numpy as np
import pandas as pd
import pytest

from invlearn import InvlearnError
from invlearn.chapters.regime import annotation_table, regime_map, share_pool_free_runs

matplotlib.use("Agg")


def run(method, seed, auc, valid, pool="random", fraction=0.1, alpha=np.nan, **extra):
    return {"backbone": "gmf", "pool": pool, "label_fraction": fraction, "method": method,
            "seed": seed, "auc": auc, "valid_auc": valid, "alpha_ratio": alpha,
            "alpha_rule": "sign", "meta_steps": "per-test-batch", "lr": 1e-3, **extra}


def table():
    rows = []
    for seed in range(3):
        rows += [run("none", seed, 0.70 + 0.01 * seed, 0.70),
                 run("ns", seed, 0.60, 0.80),  # best on validation, worse on test
                 run("ig", seed, 0.62 + 0.001 * seed, 0.5, alpha=10.0, share_moved=0.5),
                 run("ig", seed, 0.55, 0.5, alpha=0.0),  # IG with its move switched off
                 # the hidden pool: None is not rerun there, IDL is the pool's own baseline
                 run("idl", seed, 0.65, 0.60, pool="hidden"),
                 run("ig", seed, 0.66, 0.5, pool="hidden", alpha=10.0, share_moved=0.9)]
    return pd.DataFrame(rows)


def test_none_is_shared_with_every_pool_of_its_fraction():
    shared = share_pool_free_runs(table())
    hidden = shared[shared["pool"] == "hidden"]
    assert sorted(set(hidden["method"])) == ["idl", "ig", "none"]
    assert len(hidden[hidden["method"] == "none"]) == 3
    assert (shared["method"] == "ig0").sum() == 3  # alpha 0 is IG (α = 0), never IG


def test_the_baseline_is_chosen_on_validation_and_compared_on_test():
    regime = regime_map(table()).set_index("pool")
    random = regime.loc["random"]
    assert random["baseline"] == "ns"  # NS wins on validation though None is better on test
    assert random["diff"] == pytest.approx(0.021)
    assert (random["wins"], random["losses"], random["n"]) == (3, 0, 3)
    assert random["ig0_diff"] == pytest.approx(0.071)
    assert random["share_moved"] == pytest.approx(0.5)
    assert "α/γ 10" in random["ig_variant"] and "per-test-batch" in random["ig_variant"]
    hidden = regime.loc["hidden"]
    assert hidden["baseline"] == "none"  # None (valid 0.70) beats IDL (0.60) on validation
    assert hidden["diff"] == pytest.approx(0.66 - 0.71)
    assert np.isnan(hidden.get("ig0_diff", np.nan))  # no IG (α = 0) run in that cell


def test_regime_map_errors():
    with pytest.raises(InvlearnError, match="lacks column"):
        regime_map(table().drop(columns="valid_auc"))
    with pytest.raises(InvlearnError, match="no cell"):
        regime_map(table()[lambda t: t["method"] != "ig"])


def test_annotation_table_sets_each_annotator_beside_the_trivial_ones():
    rows = [run("idl", s, 0.6, 0.6, pool="hidden", annotation_accuracy=0.5 + 0.1 * s,
                pool_positive_share=0.8) for s in range(3)]
    rows += [run("ig", 0, 0.6, 0.6, annotation_accuracy=np.nan, pool_positive_share=np.nan)]
    out = annotation_table(pd.DataFrame(rows)).set_index("method")
    assert list(out.index) == ["idl"]  # the random pool of MovieLens has no truth
    idl = out.loc["idl"]
    assert idl["accuracy"] == pytest.approx(0.6) and idl["n"] == 3
    assert idl["all_positive"] == pytest.approx(0.8)
    assert idl["all_negative"] == pytest.approx(0.2)
    assert idl["over_best_trivial"] == pytest.approx(-0.2)


def test_regime_figures_draw_every_cell():
    from invlearn.chapters.plots import plot_regime_map, plot_sparsity_curves
    from invlearn.chapters.report import split_variants, summarize

    fig = plot_regime_map(regime_map(table()))
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert len(texts) == 2 and any(t.startswith("+0.021") and "vs NS" in t for t in texts)
    curves = summarize(split_variants(table()), ["method", "label_fraction"], ["auc"])
    fig = plot_sparsity_curves(curves, ["none", "ns", "ig", "ig0"])
    labels = fig.axes[0].get_legend_handles_labels()[1]
    assert labels == ["None", "NS", "IG", "IG (α = 0)"]
    with pytest.raises(InvlearnError, match="needs column"):
        plot_regime_map(pd.DataFrame({"pool": []}))


def test_sparsity_table_and_hidden_pool_check(toy_split):
    from invlearn.chapters.regime import hidden_pool_check, sparsity_table

    table = sparsity_table(toy_split, [0.5, 0.1, 1.0], seed=0)
    assert list(table.index) == ["10%", "50%", "100%"]
    n = len(toy_split.train)
    assert table.loc["100%", "labeled rows"] == n and table.loc["100%", "hidden rows"] == 0
    assert (table["labeled rows"] + table["hidden rows"] == n).all()
    assert table["keeps the smaller fraction's rows"].all()
    assert np.isnan(table.loc["100%", "hidden positive share"])
    check = hidden_pool_check(toy_split, 0.5, seed=0)
    assert check.loc["50%", "hidden rows"] == table.loc["50%", "hidden rows"]
    assert bool(check.loc["50%", "exactly the withheld rows"])


def second_edition_table():
    """Two backbones, the two scores (run once, on GMF), five seeds, two pools."""
    rows = []
    for s in range(5):
        rows += [run("ig", s, 0.60 + 0.001 * s, 0.5, alpha=0.1),
                 run("ns", s, 0.55, 0.62), run("none", s, 0.58, 0.61),
                 run("ig", s, 0.63 + 0.002 * (s % 2), 0.5, alpha=0.1, backbone="gmf_bias"),
                 run("ns", s, 0.64, 0.65, backbone="gmf_bias"),
                 run("popularity", s, 0.66, 0.70), run("item_mean", s, 0.67, 0.68),
                 # hidden pool: None and item_mean come from the random pool's runs;
                 # popularity counts the pool's rows, so it has its own run there
                 run("ig", s, 0.62 + 0.001 * s, 0.5, pool="hidden", alpha=0.1),
                 run("idl", s, 0.61, 0.60, pool="hidden"),
                 run("popularity", s, 0.90, 0.60, pool="hidden")]
    return pd.DataFrame(rows)


def test_two_maps_choose_rivals_on_validation_and_apply_the_decision_rule():
    from invlearn.chapters.regime import regime_maps

    maps = regime_maps(second_edition_table())
    own = maps["own_backbone"].set_index(["backbone", "pool"])
    assert own.loc[("gmf", "random"), "rival"] == "ns"  # best validation on GMF
    assert own.loc[("gmf", "random"), "gap"] == pytest.approx(0.602 - 0.55)
    assert own.loc[("gmf_bias", "random"), ["rival", "rival_backbone"]].tolist() == [
        "ns", "gmf_bias"]
    assert own.loc[("gmf", "hidden"), "rival"] == "none"  # shared from the random pool
    assert own.loc[("gmf", "hidden"), "gap"] == pytest.approx(0.622 - 0.58)
    assert (own["verdict"] == "ig better").loc[[("gmf", "random"), ("gmf", "hidden")]].all()
    assert own.loc[("gmf_bias", "random"), "verdict"] == "rival better"
    every = maps["everything"].set_index(["backbone", "pool"])
    assert every.loc[("gmf", "random"), "rival"] == "popularity"
    assert every.loc[("gmf_bias", "random"), "rival"] == "popularity"  # any backbone
    assert every.loc[("gmf_bias", "random"), "gap"] == pytest.approx(0.6308 - 0.66)
    # hidden: item_mean (valid .68, pool-free) beats the hidden pool's popularity (.60); the
    # random pool's popularity (valid .70) is not shared: it counts other rows
    assert every.loc[("gmf", "hidden"), "rival"] == "item_mean"
    assert every.loc[("gmf", "hidden"), "gap"] == pytest.approx(0.622 - 0.67)
    assert (every["verdict"] == "rival better").all() and (every["n"] == 5).all()
    assert {"q", "p_t", "wins", "losses", "p_sign"} <= set(every.columns)
    assert (every["q"] >= every["p_t"]).all()


def test_a_second_edition_map_draws_with_q_values_and_rivals():
    from invlearn.chapters.plots import plot_regime_map
    from invlearn.chapters.regime import regime_maps

    fig = plot_regime_map(regime_maps(second_edition_table())["everything"], value="gap",
                          p_value="q")
    texts = sorted(t.get_text() for t in fig.axes[0].texts)
    assert len(texts) == 3 and all("\nq = " in t for t in texts)
    assert sum("vs Popularity" in t for t in texts) == 2
    assert any("vs Item mean" in t for t in texts)
    ticks = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert "Biased GMF, random" in ticks
