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


def test_a_rival_is_chosen_on_the_seeds_every_candidate_ran():
    """NS leads None on validation over seeds 0-4; extra seeds 5-9, lucky ones, for None alone
    would lift None's mean over all its seeds above NS's, but the choice uses seeds 0-4 only."""
    from invlearn.chapters.regime import regime_maps

    table = second_edition_table()
    table = table[~((table["backbone"] == "gmf_bias") | (table["pool"] == "hidden"))]
    extra = pd.DataFrame([run("none", s, 0.58, 0.90) for s in range(5, 10)]
                         + [run("ig", s, 0.60, 0.5, alpha=0.1) for s in range(5, 10)])
    own = regime_maps(pd.concat([table, extra], ignore_index=True))["own_backbone"]
    assert own["rival"].tolist() == ["ns"] and own["n"].tolist() == [5]
    # given the same extra seeds, NS keeps them in the choice too
    extra_ns = pd.DataFrame([run("ns", s, 0.55, 0.40) for s in range(5, 10)])
    own = regime_maps(pd.concat([table, extra, extra_ns], ignore_index=True))["own_backbone"]
    assert own["rival"].tolist() == ["none"] and own["n"].tolist() == [10]


def test_a_second_edition_map_draws_with_q_values_and_rivals():
    from invlearn.chapters.plots import plot_regime_map
    from invlearn.chapters.regime import regime_maps

    fig = plot_regime_map(regime_maps(second_edition_table())["everything"], value="gap",
                          p_value="q")
    texts = sorted(t.get_text() for t in fig.axes[0].texts)
    assert len(texts) == 3 and all("\nq = " in t or "\nq <0.001" in t for t in texts)
    assert sum("vs Popularity" in t for t in texts) == 2
    assert any("vs Item mean" in t for t in texts)
    ticks = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert "Biased GMF, random" in ticks


def handmade_map():
    """One map as regime_maps returns it, with values chosen by hand: a gain, a loss, a tie and
    a cell whose t-test is undefined (NaN p and q), its rival on another backbone."""
    return pd.DataFrame({
        "backbone": ["gmf", "gmf", "neumf", "gmf"], "pool": ["random", "hidden", "random", "random"],
        "label_fraction": [0.03, 0.1, 1.0, 0.01],
        "rival": ["tce", "idl", "item_mean", "ns"],
        "rival_backbone": ["gmf", "gmf", "gmf", "neumf"],
        "ig": [0.7004, 0.739, 0.80, 0.55], "rival_mean": [0.6734, 0.759, 0.79, 0.55],
        "gap": [0.027, -0.020, 0.010, 0.0], "wins": [3, 0, 2, 0], "losses": [0, 3, 1, 0],
        "p_t": [0.004, 0.0021, 0.3, np.nan], "q": [0.039, 0.025, 0.6, np.nan],
        "verdict": ["ig better", "rival better", "no difference", "no difference"]})


def test_more_seeds_go_to_ig_and_its_rival_where_a_verdict_claims_a_difference():
    from invlearn.chapters.regime import more_seeds_for

    frame = handmade_map()
    entries = more_seeds_for({"own_backbone": frame, "everything": frame}, [6, 7])
    assert [e["where"] for e in entries] == [  # the tie and the NaN cell get none; no repeats
        {"label_fraction": 0.03, "pool": "random", "backbone": "gmf", "method": "ig"},
        {"label_fraction": 0.03, "pool": "random", "backbone": "gmf", "method": "tce"},
        {"label_fraction": 0.1, "pool": "hidden", "backbone": "gmf", "method": "ig"},
        {"label_fraction": 0.1, "pool": "hidden", "backbone": "gmf", "method": "idl"}]
    assert all(e["seeds"] == [6, 7] for e in entries)
    pool_free = frame.assign(rival=["none", "idl", "item_mean", "ns"])
    where = more_seeds_for({"everything": pool_free}, [6])[1]["where"]
    assert where == {"label_fraction": 0.03, "backbone": "gmf", "method": "none"}  # no pool
    with pytest.raises(InvlearnError, match="verdict"):
        more_seeds_for({"everything": frame.drop(columns="verdict")}, [6])


def test_rival_labels():
    from invlearn.chapters.regime import rival_label

    frame = handmade_map()
    assert [rival_label(r) for _, r in frame.iterrows()] == [
        "T-CE", "IDL", "Item mean", "NS (NeuMF)"]  # a score never names a backbone


def test_verdict_table_keeps_only_the_cells_the_rule_calls_different():
    from invlearn.chapters.regime import verdict_table

    out = verdict_table({"own_backbone": handmade_map(), "everything": handmade_map().iloc[2:]})
    assert list(out.columns) == ["rival", "gap", "q", "verdict"]
    assert out.index.names == ["map", "backbone", "pool", "f"]
    # the tie and the NaN cell are left out; "everything" keeps neither of its two
    assert list(out.index) == [("own backbone", "GMF", "random", "3%"),
                               ("own backbone", "GMF", "hidden", "10%")]
    assert list(out["rival"]) == ["T-CE", "IDL"]
    assert list(out["gap"]) == ["+0.027", "-0.020"]
    assert list(out["q"]) == ["0.039", "0.025"]
    assert list(out["verdict"]) == ["IG ahead", "IG behind"]
    with pytest.raises(InvlearnError, match="lacks column"):
        verdict_table({"own_backbone": handmade_map().drop(columns="q")})
    with pytest.raises(InvlearnError, match="at least one map"):
        verdict_table({})


def test_describe_runs_adds_the_shared_none_runs_to_the_pooled_ones():
    from invlearn.chapters.regime import describe_runs

    # table(): two cells (random, hidden at 10%), 3 seeds; None ran once per seed (random pool)
    text = describe_runs(table())
    # pooled: NS, IG, IG (α = 0) on random pairs, IDL and IG on the hidden pool = 15 runs; not
    # every method ran in every cell, so no product is claimed
    assert text.splitlines()[:2] == [
        "18 final runs (3 seeds, 2 cells):",
        "  15 of the 4 methods that use a pool, IG (α = 0) counted"]
    assert text.splitlines()[2].startswith("  3 of None")
    full = pd.DataFrame([run(m, s, 0.6, 0.6, pool=p, alpha=10.0 if m == "ig" else np.nan)
                         for p in ("random", "hidden") for m in ("ns", "ig") for s in range(2)]
                        + [run("none", s, 0.6, 0.6) for s in range(2)])
    assert describe_runs(full).splitlines()[:3] == [
        "10 final runs (2 seeds, 2 cells):",
        "  8 of the 2 methods that use a pool, IG (α = 0) counted: 2 × 2 cells × 2 seeds",
        ("  2 of None, which uses no pool: one run per backbone, fraction and seed serves every "
         "pool")]


def test_map_table_prints_each_cell_as_the_chapter_does():
    from invlearn.chapters.regime import map_table

    out = map_table(handmade_map())
    assert list(out.columns) == ["rival", "IG", "rival AUC", "gap", "wins–losses", "p", "q",
                                 "verdict"]
    assert out.index.names == ["backbone", "pool", "f"]
    assert list(out.index) == [("GMF", "random", "3%"), ("GMF", "hidden", "10%"),
                               ("NeuMF", "random", "100%"), ("GMF", "random", "1%")]
    first = out.iloc[0]
    assert (first["IG"], first["rival AUC"]) == (0.7, 0.673)  # rounded to 3 digits
    assert list(out["gap"]) == ["+0.0270", "-0.0200", "+0.0100", "0.0000"]  # a zero gap prints unsigned
    assert list(out["wins–losses"]) == ["3-0", "0-3", "2-1", "0-0"]
    assert list(out["p"]) == ["0.004", "0.002", "0.300", "–"]
    assert list(out["q"]) == ["0.039", "0.025", "0.600", "–"]
    assert out["rival"].iloc[3] == "NS (NeuMF)"
    assert list(out["verdict"]) == ["IG ahead", "IG behind", "no difference", "no difference"]
    with pytest.raises(InvlearnError, match="lacks column"):
        map_table(handmade_map().drop(columns="q"))
    short = map_table(handmade_map(), aucs=False)  # the AUCs left to the chapter's means table
    assert list(short.columns) == ["rival", "gap", "wins–losses", "p", "q", "verdict"]
    assert short.equals(out.drop(columns=["IG", "rival AUC"]))


def test_learn_nothing_sets_the_scores_against_the_best_model_by_test_auc():
    from invlearn.chapters.regime import learn_nothing

    out = learn_nothing(second_edition_table()).set_index("pool")
    random, hidden = out.loc["random"], out.loc["hidden"]
    # random pairs: the best learned model is NS on Biased GMF (0.64), any backbone counts
    assert random["best model in hindsight"] == "NS, Biased GMF"
    assert random["its test AUC"] == pytest.approx(0.64)
    assert (random["popularity"], random["item mean"]) == pytest.approx((0.66, 0.67))
    assert random["best score − best model"] == pytest.approx(0.67 - 0.64)
    # hidden pool: item mean is the random pool's run (it reads kept labels only), popularity
    # the pool's own; IG (0.622) beats IDL (0.61) and the shared None (0.58)
    assert hidden["best model in hindsight"] == "IG, GMF"
    assert hidden["its test AUC"] == pytest.approx(0.622)
    assert (hidden["popularity"], hidden["item mean"]) == pytest.approx((0.90, 0.67))
    assert hidden["best score − best model"] == pytest.approx(0.90 - 0.622)
    assert (out["f"] == 0.1).all()
    scores_only = second_edition_table()[lambda t: t["method"].isin(["popularity", "item_mean"])]
    with pytest.raises(InvlearnError, match="no learned model"):
        learn_nothing(scores_only)


def test_means_by_fraction_keeps_one_backbone_and_the_scores():
    from invlearn.chapters.regime import means_by_fraction

    summary, out = means_by_fraction(second_edition_table())
    assert list(out.columns) == ["10%"]
    assert list(out.index) == [  # pools sorted, methods in the book's order
        ("hidden", "None"), ("hidden", "IDL"), ("hidden", "IG"), ("hidden", "Popularity"),
        ("hidden", "Item mean"), ("random", "None"), ("random", "NS"), ("random", "IG"),
        ("random", "Popularity"), ("random", "Item mean")]
    assert out.loc[("random", "NS"), "10%"] == pytest.approx(0.55)  # GMF's, not Biased GMF's
    assert out.loc[("hidden", "Item mean"), "10%"] == pytest.approx(0.67)  # shared, pool-free
    assert summary.loc[("random", "ig", 0.1), "n"] == 5


def test_read_study_reads_both_folders(tmp_path):
    from invlearn.chapters.regime import read_study

    table = second_edition_table()
    scores = table["method"].isin(["popularity", "item_mean"])
    for name, rows in (("study", table[~scores]), ("scores", table[scores])):
        (tmp_path / name).mkdir()
        rows.to_csv(tmp_path / name / "results.csv", index=False)
    runs, score_runs, every = read_study(tmp_path / "study", tmp_path / "scores")
    assert (len(runs), len(score_runs), len(every)) == (35, 15, 50)
    assert set(score_runs["method"]) == {"popularity", "item_mean"}
    with pytest.raises(InvlearnError, match="does not exist"):
        read_study(tmp_path / "study", tmp_path / "nowhere")


def test_seed_gaps_and_other_metrics_per_cell():
    from invlearn.chapters.regime import other_metrics, regime_maps, seed_gaps

    table = second_edition_table().assign(gauc=lambda t: t["auc"] - 0.1,
                                          **{"recall@20": lambda t: t["auc"] / 10})
    gaps = seed_gaps(table, regime_maps(table)["own_backbone"])
    assert list(gaps.columns) == [f"seed {s}" for s in range(5)]
    assert gaps.index.names == ["backbone", "pool", "f"]
    assert list(gaps.loc[("GMF", "random", "10%")]) == pytest.approx(
        [0.05, 0.051, 0.052, 0.053, 0.054])  # IG 0.600 + 0.001 s against NS's 0.55
    assert list(gaps.loc[("Biased GMF", "random", "10%")]) == pytest.approx(
        [-0.01, -0.008, -0.01, -0.008, -0.01])
    out = other_metrics(table)
    assert list(out.columns) == ["gauc: gap", "gauc: wins–losses", "gauc: q", "gauc: verdict",
                                 "recall@20: gap", "recall@20: wins–losses", "recall@20: q",
                                 "recall@20: verdict"]
    cell = out.loc[("GMF", "random", "10%")]
    assert (cell["gauc: gap"], cell["recall@20: gap"]) == ("+0.0520", "+0.0052")
    assert cell["gauc: wins–losses"] == "5-0" and cell["recall@20: q"] == "<0.001"
    assert out.loc[("Biased GMF", "random", "10%"), "gauc: wins–losses"] == "0-5"
    assert cell["gauc: verdict"] == "IG ahead"  # +0.052 on every seed
    assert cell["recall@20: verdict"] == "IG ahead"  # +0.0052: just over the 0.005 bar
    assert out.loc[("Biased GMF", "random", "10%"), "gauc: verdict"] == "IG behind"
    plain = other_metrics(table, ["recall@20"], prefix=False)  # one metric, plain columns
    assert list(plain.columns) == ["gap", "wins–losses", "q", "verdict"]
    assert plain.loc[("GMF", "random", "10%"), "gap"] == "+0.0052"
    with pytest.raises(InvlearnError, match="exactly one metric"):
        other_metrics(table, prefix=False)


def test_move_table_sets_ig_beside_ig_without_its_move():
    from invlearn.chapters.regime import move_table

    rows = []
    for s in range(3):
        rows += [run("ns", s, 0.60, 0.80),
                 run("ig", s, 0.62 + 0.001 * s, 0.5, alpha=10.0, share_moved=0.5,
                     median_relative_move=0.01 * (s + 1), share_pass=0.2),
                 run("ig", s, 0.55, 0.5, alpha=0.0, share_moved=0.0,
                     median_relative_move=0.0, share_pass=1.0),
                 run("idl", s, 0.65, 0.60, pool="hidden"),
                 run("ig", s, 0.66, 0.5, pool="hidden", alpha=10.0, share_moved=0.9,
                     median_relative_move=0.002, share_pass=0.5),
                 run("ig", s, 0.66 - 3e-5, 0.5, pool="hidden", alpha=0.0, share_moved=0.0,
                     median_relative_move=0.0, share_pass=1.0)]
    frame, out = move_table(pd.DataFrame(rows))
    assert list(out.columns) == ["IG variant", "IG − IG (α = 0)", "p", "moved", "move size"]
    random, hidden = out.loc[("GMF", "random", "10%")], out.loc[("GMF", "hidden", "10%")]
    assert random["IG − IG (α = 0)"] == "+0.0710"
    assert hidden["IG − IG (α = 0)"] == "+3e-05"  # a gap below 0.00005 keeps one digit
    assert (random["moved"], hidden["moved"]) == ("50.0%", "90.0%")
    assert random["move size"] == "2.0 × 10⁻²"  # the median over seeds of IG's (α > 0) runs
    passes = frame.set_index("pool")["passes"]
    assert (passes["random"], passes["hidden"]) == pytest.approx((0.2, 0.5))  # IG (α = 0) out
    assert "α/γ 10" in random["IG variant"]
    assert frame.set_index("pool").loc["random", "relative"] == pytest.approx(0.02)
    with pytest.raises(InvlearnError, match="median_relative_move"):
        move_table(pd.DataFrame(rows).drop(columns="median_relative_move"))
    # one format for every gap, and the variant left to a table of its own
    _, short = move_table(pd.DataFrame(rows), variant=False, digits=3)
    assert list(short.columns) == ["IG − IG (α = 0)", "p", "moved", "move size"]
    assert short.loc[("GMF", "random", "10%"), "IG − IG (α = 0)"] == "+0.071"
    assert short.loc[("GMF", "hidden", "10%"), "IG − IG (α = 0)"] == "0.000"  # +3e-05 rounds
    assert short.loc[("GMF", "random", "10%"), "move size"] == "2.0 × 10⁻²"


def test_annotation_margins_sets_each_annotator_against_its_own_bar():
    from invlearn.chapters.regime import annotation_margins

    rows = []
    for s in range(2):  # IDL's rows 60% liked, IG's 70%: each has its own trivial bar
        rows += [run("idl", s, 0.6, 0.6, pool="hidden", annotation_accuracy=0.62,
                     pool_positive_share=0.6),
                 run("ig", s, 0.6, 0.6, pool="hidden", alpha=10.0, annotation_accuracy=0.65,
                     pool_positive_share=0.7),
                 run("idl", s, 0.6, 0.6, pool="hidden", fraction=1.0, annotation_accuracy=0.5,
                     pool_positive_share=0.5 + 0.0002 * s)]
    out = annotation_margins(annotation_table(pd.DataFrame(rows)))
    assert list(out.columns) == ["IDL − trivial", "IG − trivial", "share liked"]
    assert out.index.names == ["backbone", "pool", "f"]
    cell = out.loc[("GMF", "hidden", "10%")]
    assert (cell["IDL − trivial"], cell["IG − trivial"]) == ("+0.020", "-0.050")  # 0.62 − 0.6; 0.65 − 0.7
    assert cell["share liked"] == "0.650"  # the mean of the two annotators' rows
    every = out.loc[("GMF", "hidden", "100%")]
    assert (every["IDL − trivial"], every["IG − trivial"]) == ("0.000", "–")  # −0.0001 rounds to zero; IG not run


def test_dashed_prints_floats_with_fixed_digits_and_missing_values_as_a_dash():
    from invlearn.chapters.regime import dashed

    frame = pd.DataFrame({"share": [0.8361, np.nan], "rows": [6002, 0], "kept": [True, True]},
                         index=["1%", "100%"])
    out = dashed(frame)
    assert list(out["share"]) == ["0.836", "–"]
    assert list(out["rows"]) == [6002, 0] and list(out["kept"]) == [True, True]
    assert dashed(frame, 1).loc["1%", "share"] == "0.8"


def test_sparsity_panels_draw_one_panel_per_pool_and_one_legend():
    import matplotlib.pyplot as plt

    from invlearn.chapters.plots import plot_sparsity_panels
    from invlearn.chapters.regime import means_by_fraction

    summary, _ = means_by_fraction(second_edition_table())
    fig = plot_sparsity_panels(summary, ["random", "hidden"], "Toy")
    assert len(fig.axes) == 2 and [ax.get_legend() for ax in fig.axes] == [None, None]
    assert [ax.get_title() for ax in fig.axes] == ["Toy, random pool", "Toy, hidden pool"]
    greys = [line for line in fig.axes[0].lines if line.get_color() == "0.55"]
    assert [line.get_linestyle() for line in greys] == ["--", ":"]  # popularity, item mean
    assert len(fig.legends) == 1
    # the last panel's entries: matplotlib lists plain lines before error-bar containers
    assert [t.get_text() for t in fig.legends[0].get_texts()] == [
        "Popularity", "Item mean", "None", "IDL", "IG"]
    plt.close(fig)
    with pytest.raises(InvlearnError, match="at least one pool"):
        plot_sparsity_panels(summary, [], "Toy")


def test_regime_maps_figure_frames_the_cells_the_rule_keeps():
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    from invlearn.chapters.plots import plot_regime_maps
    from invlearn.chapters.regime import regime_maps

    maps = regime_maps(second_edition_table())
    maps["own_backbone"].loc[0, "verdict"] = "no difference"  # one frame fewer above
    fig = plot_regime_maps(maps, "Toy")
    assert len(fig.axes) == 4  # two maps and their colour bars
    frames = [[p for p in ax.patches if isinstance(p, Rectangle)] for ax in fig.axes[:2]]
    assert [len(f) for f in frames] == [2, 3]
    assert fig.axes[1].get_title() == ("Toy: IG − the best of everything (any backbone, the two "
                                       "scores)")
    assert all(len(ax.texts) == 3 for ax in fig.axes[:2])
    plt.close(fig)
    with pytest.raises(InvlearnError, match="everything"):
        plot_regime_maps({"own_backbone": maps["own_backbone"]}, "Toy")


def test_tables_of_two_studies_put_the_data_set_first():
    """The chapter's shared tables: one study's table per data set, the data set first; the
    second study (IG 0.01 lower on every seed) changes its own rows only."""
    from invlearn.chapters.regime import (
        by_data_set,
        learn_nothing,
        map_table,
        means_by_fraction,
        regime_maps,
        verdict_table,
    )

    first = second_edition_table()
    second = first.assign(auc=np.where(first["method"] == "ig", first["auc"] - 0.01,
                                       first["auc"]))
    studies = {"ML-1M": first, "simulated feed": second}
    bar = learn_nothing(studies)
    assert list(bar.columns[:3]) == ["data set", "pool", "f"]
    assert list(bar.index) == list(range(4))  # rows numbered anew
    hidden = bar.set_index(["data set", "pool"])["its test AUC"]
    assert hidden[("ML-1M", "hidden")] == pytest.approx(0.622)  # IG, as on one study
    assert hidden[("simulated feed", "hidden")] == pytest.approx(0.612)  # IG 0.01 lower
    summary, means = means_by_fraction(studies)
    assert means.index.names == ["data set", "pool", "method"]
    assert summary.index.names[0] == "data set"
    assert means.loc[("simulated feed", "random", "IG"), "10%"] == pytest.approx(0.592)
    assert means.loc["ML-1M"].equals(means_by_fraction(first)[1])
    maps = {"ML-1M": regime_maps(first), "simulated feed": regime_maps(second)}
    verdicts = verdict_table(maps)
    assert verdicts.index.names == ["data set", "map", "backbone", "pool", "f"]
    assert verdicts.loc["ML-1M"].equals(verdict_table(maps["ML-1M"]))
    # on GMF with random pairs IG leads NS by 0.052 on ML-1M, 0.042 on the simulated feed
    own = verdicts.xs(("own backbone", "GMF", "random", "10%"),
                      level=["map", "backbone", "pool", "f"])["gap"]
    assert list(own) == ["+0.052", "+0.042"]
    full = map_table({name: m["own_backbone"] for name, m in maps.items()}, aucs=False)
    assert full.index.names == ["data set", "backbone", "pool", "f"] and len(full) == 6
    with pytest.raises(InvlearnError, match="at least one data set"):
        by_data_set({})


def test_moves_other_metrics_and_annotation_of_two_studies():
    from invlearn.chapters.regime import (
        annotation_margins,
        annotation_table,
        move_table,
        other_metrics,
    )

    rows = []
    for s in range(3):
        rows += [run("ns", s, 0.60, 0.80, gauc=0.5, annotation_accuracy=np.nan,
                     pool_positive_share=np.nan),
                 run("ig", s, 0.62 + 0.001 * s, 0.5, alpha=10.0, share_moved=0.5,
                     median_relative_move=0.01, share_pass=0.2, gauc=0.52 + 0.001 * s,
                     annotation_accuracy=0.7, pool_positive_share=0.6),
                 run("ig", s, 0.55, 0.5, alpha=0.0, share_moved=0.0, median_relative_move=0.0,
                     share_pass=1.0, gauc=0.5, annotation_accuracy=0.5,
                     pool_positive_share=0.6)]
    one = pd.DataFrame(rows)
    other = one.assign(auc=one["auc"] - np.where(one["alpha_ratio"] == 10.0, 0.05, 0.0))
    frame, out = move_table({"ML-1M": one, "simulated feed": other}, variant=False, digits=3)
    assert out.index.names == ["data set", "backbone", "pool", "f"]
    assert list(out["IG − IG (α = 0)"]) == ["+0.071", "+0.021"]
    assert list(frame["data set"]) == ["ML-1M", "simulated feed"]
    assert frame.columns[0] == "data set"
    metrics = other_metrics({"ML-1M": one, "simulated feed": other}, ["gauc"], prefix=False)
    assert list(metrics["gap"]) == ["+0.0210", "+0.0210"]  # GAUC is the same in both
    margins = annotation_margins({"ML-1M": annotation_table(one),
                                  "simulated feed": annotation_table(other)})
    assert margins.index.names == ["data set", "backbone", "pool", "f"]
    assert list(margins["IG − trivial"]) == ["+0.100", "+0.100"]  # 0.7 − 0.6
    assert list(margins["IG (α = 0) − trivial"]) == ["-0.100", "-0.100"]


def test_chosen_settings_one_row_per_method_and_setting():
    from invlearn.chapters.regime import chosen_settings

    chosen = pd.DataFrame({"label_fraction": [0.01, 0.01, 0.1, 0.1],
                           "method": ["ig", "none", "ig", "none"],
                           "lr": [0.001, 0.003, 0.001, 0.001],
                           "alpha_ratio": [10.0, np.nan, 0.1, np.nan],
                           "tce_eps_max": np.nan})
    search = {"*": {"lr": [0.001, 0.003]}, "ig": {"alpha_ratio": [0.1, 10.0]},
              "tce": {"tce_eps_max": [0.1]}}
    out = chosen_settings(chosen, search)
    assert out.index.names == ["method", "setting"]
    assert list(out.index) == [("None", "γ"), ("IG", "γ"), ("IG", "α/γ")]  # the book's order
    assert list(out.columns) == ["1%", "10%"]
    assert list(out.loc[("IG", "α/γ")]) == ["10", "0.1"]
    assert list(out.loc[("None", "γ")]) == ["0.003", "0.001"]
    both = chosen_settings({"ML-1M": chosen, "simulated feed": chosen}, search, ["ig"])
    assert list(both.index) == [("ML-1M", "IG", "γ"), ("ML-1M", "IG", "α/γ"),
                                ("simulated feed", "IG", "γ"), ("simulated feed", "IG", "α/γ")]
    with pytest.raises(InvlearnError, match="no chosen setting"):
        chosen_settings(chosen, search, ["tce"])


def test_pool_free_runs_of_a_one_pool_backbone_serve_every_pool_with_any_backbone():
    """NeuMF ran with random pairs only: its None runs (no pool used) count in the hidden pool
    too when rivals come from any backbone (the everything map), not in its own cells."""
    rows = [run("none", s, 0.70, 0.9, backbone="neumf") for s in range(3)]
    rows += [run("ig", s, 0.60 + 0.001 * s, 0.5, pool=p, alpha=0.1) for s in range(3)
             for p in ("random", "hidden")]
    rows += [run("idl", s, 0.65, 0.6, pool="hidden") for s in range(3)]
    table = pd.DataFrame(rows)
    own = share_pool_free_runs(table, ("none",))
    assert not ((own["backbone"] == "neumf") & (own["pool"] == "hidden")).any()
    every = share_pool_free_runs(table, ("none",), any_backbone=True)
    assert ((every["backbone"] == "neumf") & (every["pool"] == "hidden")).sum() == 3
    from invlearn.chapters.regime import regime_maps
    maps = regime_maps(table.assign(method=table["method"]))
    hidden = maps["everything"].set_index(["backbone", "pool"]).loc[("gmf", "hidden")]
    assert (hidden["rival"], hidden["rival_backbone"]) == ("none", "neumf")
    assert hidden["gap"] == pytest.approx(0.601 - 0.70)
    assert maps["own_backbone"].set_index(["backbone", "pool"]).loc[
        ("gmf", "hidden"), "rival"] == "idl"


def test_read_study_reads_one_folder_and_counts_its_planned_runs(tmp_path):
    import json

    from invlearn.chapters.regime import final_runs_done, read_study

    table = second_edition_table()
    table.to_csv(tmp_path / "results.csv", index=False)
    runs, score_runs, every = read_study(tmp_path)
    assert (len(runs), len(score_runs), len(every)) == (35, 15, 50)
    assert set(score_runs["method"]) == {"popularity", "item_mean"}
    assert not runs["method"].isin(["popularity", "item_mean"]).any()
    spec = {"base": {"dataset": "sim", "sim_size": "toy"},
            "grid": {"label_fraction": [0.1], "pool": ["random", "hidden"],
                     "backbone": ["gmf"], "method": ["none", "ig", "popularity"]},
            "exclude": [{"method": "none", "pool": "hidden"}], "seeds": [1, 2],
            "ablate": {"ig": {"alpha_ratio": 0.0}}}
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    # none: 1 cell, ig: 2 cells with its twin, popularity: 2 cells; 2 seeds each
    assert final_runs_done(tmp_path) == (50, (1 + 2 * 2 + 2) * 2)
    with pytest.raises(InvlearnError, match="does not exist"):
        final_runs_done(tmp_path / "nowhere")


def test_searched_settings_counts_settings_per_cell_from_the_search():
    from invlearn.chapters.regime import searched_settings

    search = pd.DataFrame(
        [{"method": m, "backbone": b, "label_fraction": f, "seed": 0}
         for m, n in (("ig", 6), ("none", 6), ("popularity", 1)) for b in ("gmf", "gmf_bias")
         for f in (0.01, 0.1) for _ in range(n) if not (m == "popularity" and b == "gmf_bias")]
        + [{"method": "ns", "backbone": "gmf", "label_fraction": 0.01, "seed": 0}] * 5
        + [{"method": "ns", "backbone": "gmf", "label_fraction": 0.1, "seed": 0}] * 6)
    out = searched_settings(search).set_index("method")
    assert list(out.index) == ["None", "NS", "IG", "Popularity"]  # the book's order
    assert out.loc["IG", "settings per cell"] == "6" and out.loc["IG", "cells"] == 4
    assert out.loc["NS", "settings per cell"] == "5–6"
    assert out.loc["Popularity", "cells"] == 2 and out.loc["IG", "search seed"] == "0"


def test_chosen_settings_per_backbone():
    from invlearn.chapters.regime import chosen_settings

    chosen = pd.DataFrame({"label_fraction": [0.01, 0.01, 0.1],
                           "backbone": ["gmf", "gmf_bias", "gmf"],
                           "method": ["ig", "ig", "ig"], "lr": [0.001, 0.003, 0.002],
                           "alpha_ratio": [10.0, 0.1, 1.0]})
    out = chosen_settings(chosen, {"*": {"lr": [0.001]}, "ig": {"alpha_ratio": [0.1]}})
    assert out.index.names == ["method", "backbone", "setting"]
    assert list(out.index) == [("IG", "GMF", "γ"), ("IG", "GMF", "α/γ"),
                               ("IG", "Biased GMF", "γ"), ("IG", "Biased GMF", "α/γ")]
    assert list(out.loc[("IG", "Biased GMF", "γ")]) == ["0.003", "–"]  # did not run at 10%
    assert list(out.loc[("IG", "GMF", "α/γ")]) == ["10", "1"]
