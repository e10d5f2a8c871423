"""Chapter 9 (the regime map): the chapter reads a regime study's folder; run it on a tiny fake
folder whose answers are known, with the toy simulated feed for section 9.1."""
import json

import numpy as np
import pandas as pd
import pytest
from conftest import BOOK, run_chapter

from invlearn.chapters.report import METHOD_ORDER

METHODS = ["none", "ns", "tce", "rce", "dns", "idl", "ig"]
SEEDS = [0, 1, 2]
CELLS = [("random", 0.1), ("random", 1.0), ("hidden", 0.1)]
SIM_CELLS = [*CELLS, ("ambiguous", 0.1)]


def fake_run(pool, fraction, method, seed, alpha=None):
    """AUC rises with the method's index; IG is 0.02 above IDL (0.65) on the hidden pool and 0.04 below
    DNS (0.64) on random pairs at 10%, where DNS is best on validation."""
    k = METHODS.index(method)
    auc = 0.60 + 0.01 * k + 0.001 * seed + (0.1 if fraction == 1.0 else 0.0)
    valid = auc
    if method == "ig":
        auc = {"hidden": 0.66 + 0.01, "ambiguous": 0.66 + 0.01, "random": 0.62 - 0.02}[pool] + 0.001 * seed \
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
    sim = fake_study(tmp_path / "regime-sim", SIM_CELLS, truth=True)
    numbers = run_chapter("09_regime_map", tmp_path, RESULTS_DIR=str(tmp_path / "regime"),
                          SIM_RESULTS_DIR=str(tmp_path / "regime-sim"),
                          SIM_DATA={"name": "sim", "size": "toy"},
                          DATA={"name": "sim", "size": "toy"}, FRACTIONS=[0.1, 1.0])
    assert numbers["n_runs"] == len(results) and numbers["n_seeds"] == 3
    assert numbers["n_cells"] == 3
    # hidden pool: IDL is the best baseline on validation, IG is 0.02 above it on every seed
    assert numbers["gmf_hidden_10_auc_baseline_index"] == METHOD_ORDER.index("idl")
    assert numbers["gmf_hidden_10_auc_diff"] == pytest.approx(0.02)
    assert numbers["gmf_hidden_10_auc_wins"] == 3
    # random pairs at 10%: DNS wins on validation, so IG is measured against DNS on test
    assert numbers["gmf_random_10_auc_baseline_index"] == METHOD_ORDER.index("dns")
    assert numbers["gmf_random_10_auc_diff"] == pytest.approx(0.60 - 0.64)
    assert numbers["gmf_random_10_auc_ig0_diff"] == pytest.approx(0.05)
    assert numbers["gmf_random_10_auc_share_moved"] == pytest.approx(0.75)
    assert numbers["annotation_gmf_hidden_10_idl"] == pytest.approx(0.7)
    assert numbers["annotation_gmf_hidden_10_ig_positive_share"] == pytest.approx(0.6)
    assert numbers["annotation_max_auc_drift"] == 0.0
    assert numbers["labeled_rows_10%"] < numbers["labeled_rows_100%"]
    # the simulated feed: a fourth cell, the ambiguous pool, where IG is 0.02 above IDL
    assert numbers["sim_n_runs"] == len(sim) and numbers["sim_n_cells"] == 4
    assert numbers["sim_gmf_ambiguous_10_auc_baseline_index"] == METHOD_ORDER.index("idl")
    assert numbers["sim_gmf_ambiguous_10_auc_diff"] == pytest.approx(0.02)
    assert numbers["sim_gmf_random_10_auc_diff"] == pytest.approx(0.60 - 0.64)
    assert numbers["sim_annotation_gmf_ambiguous_10_ig"] == pytest.approx(0.8)
    assert numbers["sim_annotation_gmf_random_10_idl"] == pytest.approx(0.7)


def test_chapter_09_committed_study():
    """The study the chapter reports: every cell present, with IG's two wins and three losses."""
    results = pd.read_csv(BOOK / "results" / "regime-ml1m" / "results.csv")
    assert len(results) == 273 and results["seed"].nunique() == 3
    assert sorted(results["label_fraction"].unique()) == [0.01, 0.03, 0.1, 0.3, 1.0]
    from invlearn.chapters.regime import regime_map

    regime = regime_map(results).set_index(["backbone", "pool", "label_fraction"])
    assert len(regime) == 12
    helps = regime[(regime["wins"] == 3) & (regime["p_t"] < 0.1) & (regime["diff"] >= 0.005)]
    hurts = regime[(regime["losses"] == 3) & (regime["p_t"] < 0.1) & (regime["diff"] <= -0.005)]
    assert sorted(helps.index) == [("gmf", "hidden", 0.01), ("gmf", "random", 0.03)]
    assert sorted(hurts.index) == [("gmf", "hidden", 0.1), ("gmf", "random", 0.01),
                                   ("neumf", "random", 1.0)]


def test_chapter_09_committed_simulated_study():
    """The simulated feed's study: every cell and column the chapter reads, IG ahead nowhere."""
    results = pd.read_csv(BOOK / "results" / "regime-sim" / "results.csv")
    assert len(results) == 420 and results["seed"].nunique() == 3
    assert sorted(results["label_fraction"].unique()) == [0.01, 0.03, 0.1, 0.3, 1.0]
    assert set(results["pool"]) == {"random", "hidden", "ambiguous"}
    for column in ("auc", "gauc", "recall@20", "annotation_accuracy", "share_moved"):
        assert column in results
    learners = results[results["method"].isin(["idl", "ig"])]
    assert learners["annotation_accuracy"].between(0, 1).all()
    from invlearn.chapters.regime import regime_map

    regime = regime_map(results).set_index(["backbone", "pool", "label_fraction"])
    assert len(regime) == 19
    helps = regime[(regime["wins"] == 3) & (regime["p_t"] < 0.1) & (regime["diff"] >= 0.005)]
    hurts = regime[(regime["losses"] == 3) & (regime["p_t"] < 0.1) & (regime["diff"] <= -0.005)]
    assert len(helps) == 0 and len(hurts) == 14
