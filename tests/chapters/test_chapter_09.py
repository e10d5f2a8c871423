"""Chapter 9 (the regime map): the chapter reads a regime study's folder and the folder of its
scores that learn nothing; run it on tiny fake folders whose answers are known, with the toy
simulated feed for the first section. Then the committed first-edition studies: the cells, the
decision rule's verdicts the chapter states, and the scores' folders."""
import json

import numpy as np
import pandas as pd
import pytest
from conftest import BOOK, run_chapter

from invlearn.chapters.regime import regime_maps
from invlearn.chapters.report import METHOD_ORDER

METHODS = ["none", "ns", "tce", "rce", "dns", "idl", "ig"]
SEEDS = [0, 1, 2]
CELLS = [("random", 0.1), ("random", 1.0), ("hidden", 0.1)]
SIM_CELLS = [*CELLS, ("ambiguous", 0.1)]
CELL = ["backbone", "pool", "label_fraction"]


def fake_run(pool, fraction, method, seed, alpha=None):
    """AUC rises with the method's index (0.60 + 0.01 k, + 0.1 with every label, + 0.001 a seed);
    IG is 0.67 on the real pools and 0.60 on random pairs (+ 0.1 with every label, + 0.002 a
    seed, so that its gaps differ by seed): 0.021 above IDL on the hidden pool on average, 0.039
    below DNS on random pairs at 10%, where DNS is best on validation."""
    k = METHODS.index(method)
    auc = 0.60 + 0.01 * k + 0.001 * seed + (0.1 if fraction == 1.0 else 0.0)
    valid = auc
    if method == "ig":
        auc = {"hidden": 0.67, "ambiguous": 0.67, "random": 0.60}[pool] + 0.002 * seed \
            + (0.1 if fraction == 1.0 else 0.0)
        valid = 0.0
    if alpha == 0.0:
        auc -= 0.05
    if (pool, fraction, method) == ("random", 0.1, "dns"):
        valid = 0.99
    row = {"dataset": "sim", "backbone": "gmf", "pool": pool, "label_fraction": fraction,
           "method": method, "seed": seed, "auc": auc, "gauc": auc - 0.1,
           "recall@20": auc / 10, "valid_auc": valid, "lr": 0.001,
           "alpha_rule": "sign" if method == "ig" else np.nan,
           "alpha_ratio": (10.0 if alpha is None else alpha) if method == "ig" else np.nan,
           "meta_steps": "per-test-batch" if method == "ig" else np.nan,
           "tce_eps_max": 0.2 if method == "tce" else np.nan}
    if method == "ig":
        row.update(share_moved=0.75, median_changed=1000.0, median_relative_move=0.01,
                   share_direct=0.5, share_pass=0.25, share_inverse=0.25)
    return row


def fake_scores(folder, cells):
    """The scores' folder: popularity at 0.55 in every cell; item_mean (pool-free, run on random
    pairs) at 0.70 with validation 0.9 at 10% (above every baseline but DNS on random pairs)
    and at 0.60 with every label, where it loses on validation."""
    folder.mkdir()
    (folder / "time.txt").write_text("total: 1 s\n")
    rows = []
    for pool, fraction in cells:
        for seed in SEEDS:
            common = {"dataset": "sim", "backbone": "gmf", "pool": pool, "seed": seed,
                      "label_fraction": fraction}
            rows.append({**common, "method": "popularity", "auc": 0.55, "valid_auc": 0.55})
            if pool == "random":
                auc = 0.70 if fraction == 0.1 else 0.60
                rows.append({**common, "method": "item_mean", "auc": auc,
                             "valid_auc": 0.9 if fraction == 0.1 else 0.6})
    table = pd.DataFrame(rows).assign(gauc=lambda t: t["auc"] - 0.1,
                                      **{"recall@20": lambda t: t["auc"] / 10})
    table.to_csv(folder / "results.csv", index=False)
    return table


def fake_study(folder, cells=CELLS, truth=False):
    """A regime study's folder; with ``truth`` (the simulator) every IDL / IG run carries an
    annotation accuracy (IDL 0.7, IG 0.8, the pool 60% liked)."""
    folder.mkdir()
    spec = {"base": {"dataset": "sim", "sim_size": "toy", "epochs": 3, "equal_steps": True,
                     "batch_size": 64},
            "grid": {"label_fraction": [0.1, 1.0], "pool": ["random", "hidden"],
                     "backbone": ["gmf"], "method": METHODS},
            "search": {"*": {"lr": [0.001, 0.003]}, "tce": {"tce_eps_max": [0.1, 0.2]}},
            "search_on": {"backbone": "gmf", "pool": "random"}, "seeds": SEEDS,
            "ablate": {"ig": {"alpha_ratio": 0.0}}}
    (folder / "spec.json").write_text(json.dumps(spec))
    (folder / "time.txt").write_text("total: 1 s\n")
    rows = [fake_run(p, f, m, s) for p, f in cells for m in METHODS for s in SEEDS
            if not (m == "none" and p != "random")]
    rows += [fake_run(p, f, "ig", s, alpha=0.0) for p, f in cells for s in SEEDS]
    results = pd.DataFrame(rows)
    if truth:
        results["annotation_accuracy"] = np.where(results["method"] == "idl", 0.7,
                                                  np.where(results["method"] == "ig", 0.8, np.nan))
        results["pool_positive_share"] = np.where(results["annotation_accuracy"].notna(), 0.6,
                                                  np.nan)
    results.to_csv(folder / "results.csv", index=False)
    chosen = pd.DataFrame([{"label_fraction": f, "method": m, "lr": 0.001,
                            "tce_eps_max": 0.2 if m == "tce" else np.nan,
                            "alpha_rule": "sign" if m == "ig" else np.nan,
                            "alpha_ratio": 10.0 if m == "ig" else np.nan,
                            "meta_steps": "per-test-batch" if m == "ig" else np.nan,
                            "valid_auc": 0.7}
                           for f in (0.1, 1.0) for m in METHODS])
    chosen.to_csv(folder / "chosen.csv", index=False)
    pd.DataFrame([{"label_fraction": 0.1, "method": "none", "lr": lr, "valid_auc": 0.5}
                  for lr in (0.001, 0.003)]).to_csv(folder / "search.csv", index=False)
    again = results[(results["pool"] == "hidden") & results["method"].isin(["idl", "ig"])].copy()
    again["annotation_accuracy"] = np.where(again["method"] == "idl", 0.7, 0.8)
    again["pool_positive_share"] = 0.6
    (folder / "annotation").mkdir()
    again.to_csv(folder / "annotation" / "results.csv", index=False)
    return results


def test_chapter_09_on_fake_results(tmp_path):
    results = fake_study(tmp_path / "regime")
    scores = fake_scores(tmp_path / "regime-scores", CELLS)
    sim = fake_study(tmp_path / "regime-sim", SIM_CELLS, truth=True)
    fake_scores(tmp_path / "regime-sim-scores", SIM_CELLS)
    numbers = run_chapter("09_regime_map", tmp_path, RESULTS_DIR=str(tmp_path / "regime"),
                          SCORES_DIR=str(tmp_path / "regime-scores"),
                          SIM_RESULTS_DIR=str(tmp_path / "regime-sim"),
                          SIM_SCORES_DIR=str(tmp_path / "regime-sim-scores"),
                          SIM_DATA={"name": "sim", "size": "toy"},
                          DATA={"name": "sim", "size": "toy"}, FRACTIONS=[0.1, 1.0])
    assert numbers["n_runs"] == len(results) and numbers["n_seeds"] == 3
    assert numbers["n_cells"] == 3 and numbers["n_score_runs"] == len(scores)
    # own backbone: IDL is the hidden pool's rival, IG 0.021 above it on every seed
    assert numbers["own_backbone_gmf_hidden_10_rival_index"] == METHOD_ORDER.index("idl")
    assert numbers["own_backbone_gmf_hidden_10_gap"] == pytest.approx(0.021)
    assert numbers["own_backbone_gmf_hidden_10_wins"] == 3
    assert numbers["own_backbone_gmf_hidden_10_q"] < 0.05
    assert numbers["own_backbone_gmf_hidden_10_verdict"] == 1
    # random pairs at 10%: DNS wins on validation, so IG is measured against DNS on test
    assert numbers["own_backbone_gmf_random_10_rival_index"] == METHOD_ORDER.index("dns")
    assert numbers["own_backbone_gmf_random_10_gap"] == pytest.approx(0.601 - 0.64)
    assert numbers["own_backbone_gmf_random_10_verdict"] == -1
    assert numbers["own_backbone_n_ig_better"] == 1 and numbers["own_backbone_n_rival_better"] == 2
    # the best of everything: item_mean (validation 0.9) takes the hidden pool's cell from IDL;
    # DNS keeps random pairs (validation 0.99)
    assert numbers["everything_gmf_hidden_10_rival_index"] == METHOD_ORDER.index("item_mean")
    assert numbers["everything_gmf_hidden_10_gap"] == pytest.approx(0.672 - 0.70)
    assert numbers["everything_gmf_hidden_10_verdict"] == -1
    assert numbers["everything_gmf_random_10_rival_index"] == METHOD_ORDER.index("dns")
    assert numbers["everything_n_ig_better"] == 0 and numbers["everything_n_rival_better"] == 3
    # scores that learn nothing, and the best model by test AUC (IG on the hidden pool)
    assert numbers["hidden_10_popularity"] == pytest.approx(0.55)
    assert numbers["hidden_10_item_mean"] == pytest.approx(0.70)
    assert numbers["hidden_10_best_model"] == pytest.approx(0.672)
    assert numbers["gmf_random_10_ig0_gap"] == pytest.approx(0.05)
    assert numbers["gmf_random_10_share_moved"] == pytest.approx(0.75)
    assert numbers["annotation_gmf_hidden_10_idl"] == pytest.approx(0.7)
    assert numbers["annotation_gmf_hidden_10_ig_positive_share"] == pytest.approx(0.6)
    assert numbers["annotation_max_auc_drift"] == 0.0
    assert numbers["labeled_rows_10%"] < numbers["labeled_rows_100%"]
    # the simulated feed: a fourth cell, the ambiguous pool, where IG is 0.021 above IDL
    assert numbers["sim_n_runs"] == len(sim) and numbers["sim_n_cells"] == 4
    assert numbers["sim_own_backbone_gmf_ambiguous_10_rival_index"] == METHOD_ORDER.index("idl")
    assert numbers["sim_own_backbone_gmf_ambiguous_10_gap"] == pytest.approx(0.021)
    assert numbers["sim_everything_gmf_ambiguous_10_rival_index"] == \
        METHOD_ORDER.index("item_mean")
    assert numbers["sim_ambiguous_10_popularity"] == pytest.approx(0.55)
    assert numbers["sim_annotation_gmf_ambiguous_10_ig"] == pytest.approx(0.8)
    assert numbers["sim_annotation_gmf_random_10_idl"] == pytest.approx(0.7)


def committed(study):
    """A committed first-edition study with its scores, and its two maps."""
    results = pd.read_csv(BOOK / "results" / study / "results.csv")
    scores = pd.read_csv(BOOK / "results" / f"{study}-scores" / "results.csv")
    maps = regime_maps(pd.concat([results, scores], ignore_index=True))
    return results, scores, {name: frame.set_index(CELL) for name, frame in maps.items()}


def cells_with(frame, verdict):
    return sorted(frame.index[frame["verdict"] == verdict])


def check_scores_folder(study, results, scores):
    """The scores' folder covers every (pool, fraction) and seed of the study: popularity in
    every pool, item_mean (which reads kept labels only) once per fraction; its time.txt says
    how it was made."""
    cells = set(zip(results["pool"], results["label_fraction"]))
    seeds = set(results["seed"])
    popularity = scores[scores["method"] == "popularity"]
    assert set(zip(popularity["pool"], popularity["label_fraction"])) == cells
    assert set(popularity["seed"]) == seeds
    item_mean = scores[scores["method"] == "item_mean"]
    assert set(item_mean["label_fraction"]) == set(results["label_fraction"])
    assert len(item_mean) == len(seeds) * results["label_fraction"].nunique()
    assert scores["auc"].between(0.4, 1).all()
    spec = json.loads((BOOK / "results" / f"{study}-scores" / "spec.json").read_text())
    assert spec["seeds"] == sorted(seeds)
    time = (BOOK / "results" / f"{study}-scores" / "time.txt").read_text()
    for word in ("command:", "machine:", "date:", "wall time"):
        assert word in time, word


def test_chapter_09_committed_study():
    """ML-1M: 12 cells; under the decision rule one IG gain and two losses survive on IG's own
    backbone, and against the best of everything no IG gain survives."""
    results, scores, maps = committed("regime-ml1m")
    assert len(results) == 273 and results["seed"].nunique() == 3
    assert sorted(results["label_fraction"].unique()) == [0.01, 0.03, 0.1, 0.3, 1.0]
    check_scores_folder("regime-ml1m", results, scores)
    own, everything = maps["own_backbone"], maps["everything"]
    assert len(own) == len(everything) == 12
    assert cells_with(own, "ig better") == [("gmf", "random", 0.03)]
    assert cells_with(own, "rival better") == [("gmf", "hidden", 0.1), ("neumf", "random", 1.0)]
    assert own.loc[("gmf", "hidden", 0.01), "gap"] == pytest.approx(0.042, abs=0.001)
    assert 0.1 < own.loc[("gmf", "hidden", 0.01), "q"] < 0.3  # the headline gain does not survive
    assert cells_with(everything, "ig better") == []
    # at 1%, a score that learns nothing beats every learned model of the study on test AUC
    every = pd.concat([results, scores])
    for pool in ("random", "hidden"):
        cell = every[(every["label_fraction"] == 0.01)
                     & ((every["pool"] == pool) | every["method"].isin(["none", "item_mean"]))]
        means = cell.groupby(["method", "backbone"])["auc"].mean()
        learned = means.drop(["popularity", "item_mean"], level="method")
        assert means[["popularity", "item_mean"]].max() > learned.max() + 0.02


def test_chapter_09_committed_simulated_study():
    """The simulated feed: 19 cells; IG ahead in no cell of either map."""
    results, scores, maps = committed("regime-sim")
    assert len(results) == 420 and results["seed"].nunique() == 3
    assert set(results["pool"]) == {"random", "hidden", "ambiguous"}
    check_scores_folder("regime-sim", results, scores)
    for column in ("auc", "gauc", "recall@20", "annotation_accuracy", "share_moved"):
        assert column in results
    learners = results[results["method"].isin(["idl", "ig"])]
    assert learners["annotation_accuracy"].between(0, 1).all()
    own, everything = maps["own_backbone"], maps["everything"]
    assert len(own) == len(everything) == 19
    assert cells_with(own, "ig better") == [] and cells_with(everything, "ig better") == []
    assert len(cells_with(own, "rival better")) >= 8
