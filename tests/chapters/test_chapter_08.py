"""Chapter 8 (the simulated Micro Video feed): the chapter reads a results folder; run it on a
tiny fake folder whose numbers are known, and on the committed study with a toy feed."""
import json

import numpy as np
import pandas as pd
import pytest
from conftest import BOOK, run_chapter

from invlearn.config import METHODS as METHOD_ORDER  # the eight methods a study runs

FAKE_SEEDS = [0, 1]
SEARCH = {"rce": {"rce_beta": [0.1, 0.25]},
          "ig": {"alpha_ratio": [0.1, 1.0], "alpha_rule": ["sgd", "sign"],
                 "meta_steps": ["per-test-batch"]}}


def fake_row(backbone: str, method: str, seed: int) -> dict:
    """One run with metrics that are simple functions of (backbone, method index, seed);
    ``"ig0"`` is an IG run at α = 0, 0.001 below IG in AUC and GAUC, that moved nothing."""
    ig0 = method == "ig0"
    method = "ig" if ig0 else method
    k, shift = METHOD_ORDER.index(method), 0.002 if backbone == "neumf" else 0.0
    auc = 0.70 + 0.01 * k + 0.001 * seed + shift - (0.001 if ig0 else 0.0)
    row = {"dataset": "sim", "sim_size": "toy", "backbone": backbone, "method": method,
           "seed": seed, "auc": auc,
           "gauc": 0.60 + 0.005 * k + 0.002 * seed - (0.001 if ig0 else 0.0),
           "gauc_unweighted": 0.61, "ndcg@10": 0.9, "mrr": 0.91,
           "recall@20": 0.05 + 0.01 * k, "ndcg@20": 0.04, "best_epoch": 2, "epochs_run": 3,
           "valid_auc": 0.99 if (backbone, method) == ("gmf", "rce") else auc,
           "annotation_first": np.nan, "annotation_last": np.nan,
           "rce_beta": 0.25 if method == "rce" else np.nan,
           "alpha_ratio": (0.0 if ig0 else 1.0) if method == "ig" else np.nan,
           "alpha_rule": "sgd" if method == "ig" else np.nan,
           "meta_steps": "per-test-batch" if method == "ig" else np.nan}
    if method == "idl":
        row.update(annotation_first=0.40 + 0.01 * seed, annotation_last=0.45)
    if method == "ig":
        row.update(annotation_first=0.36, annotation_last=0.68 + 0.01 * seed,
                   share_direct=0.7, share_pass=0.0, share_inverse=0.3, share_tie=0.0,
                   share_moved=1.0, median_changed=5e4, median_relative_move=1e-5,
                   n_meta_steps=100)
        if ig0:
            row.update(share_direct=0.0, share_pass=1.0, share_inverse=0.0, share_tie=1.0,
                       share_moved=0.0, median_changed=0.0, median_relative_move=0.0)
    return row


def fake_results(folder) -> pd.DataFrame:
    folder.mkdir()
    spec = {"base": {"dataset": "sim", "sim_size": "toy", "epochs": 3, "lr": 0.001},
            "grid": {"backbone": ["gmf", "neumf"], "method": list(METHOD_ORDER)},
            "search": SEARCH, "search_on": {"backbone": "gmf"}, "search_seed": 0,
            "seeds": FAKE_SEEDS}
    (folder / "spec.json").write_text(json.dumps(spec))
    results = pd.DataFrame([fake_row(b, m, s) for s in FAKE_SEEDS for b in ("gmf", "neumf")
                            for m in (*METHOD_ORDER, "ig0")])
    results.to_csv(folder / "results.csv", index=False)
    search = pd.DataFrame(
        [{"method": "rce", "rce_beta": beta, "valid_auc": 0.7 + beta} for beta in (0.1, 0.25)]
        + [{"method": "ig", "alpha_ratio": a, "alpha_rule": r, "meta_steps": "per-test-batch",
            "valid_auc": 0.8} for a in (0.1, 1.0) for r in ("sgd", "sign")])
    search.to_csv(folder / "search.csv", index=False)
    chosen = pd.DataFrame([{"method": "ig", "alpha_ratio": 1.0, "alpha_rule": "sgd",
                            "meta_steps": "per-test-batch", "valid_auc": 0.8},
                           {"method": "rce", "rce_beta": 0.25, "valid_auc": 0.95}])
    chosen.to_csv(folder / "chosen.csv", index=False)
    industrial = {
        "auc": 0.88, "gauc": 0.81, "ndcg@10": 0.9, "best_epoch": 2, "seconds_per_epoch": 5.5,
        "seconds_load": 14.0, "seconds_total": 30.0, "peak_memory_mb": 1000.0,
        "data": {"users": 37692, "items": 131690, "train_rows": 1800, "valid_rows": 600,
                 "test_rows": 600},
        "epochs": [{"epoch": e, "loss": 0.6 / e, "seconds": 5.5, "valid_auc": 0.8 + 0.01 * e,
                    "valid_gauc": 0.7} for e in (1, 2)]}
    (folder / "industrial_ig_gmf.json").write_text(json.dumps(industrial))
    (folder / "industrial_ig_gmf.time.txt").write_text(
        "Elapsed (wall clock) time (h:mm:ss or m:ss): 1:02.50\n"
        "Maximum resident set size (kbytes): 2048000\n")
    return results


TRUTH_SEEDS = [1, 2]
# AUC on observed labels, on the truth of the same rows, on the truth test set, per method
TRUTH_AUC = {"none": (0.85, 0.86, 0.70), "ns": (0.84, 0.87, 0.78), "ig": (0.83, 0.85, 0.72),
             "ig0": (0.829, 0.849, 0.719), "popularity": (0.60, 0.61, 0.62),
             "item_mean": (0.70, 0.71, 0.66)}


def truth_row(backbone: str, method: str, seed: int, label_fraction: float = 1.0) -> dict:
    """One run of a made-up second-edition feed study; biased GMF 0.01 above GMF."""
    shift = 0.01 if backbone == "gmf_bias" else 0.0
    auc, truth, truthset = (v + shift + 0.001 * seed for v in TRUTH_AUC[method])
    return {"label_fraction": label_fraction, "pool": "random", "backbone": backbone,
            "method": "ig" if method == "ig0" else method, "seed": seed,
            "alpha_ratio": 0.0 if method == "ig0" else 10.0 if method == "ig" else 0.1,
            "auc": auc, "auc_truth": truth, "auc_truthset": truthset}


def fake_truth(folder) -> pd.DataFrame:
    """A made-up second-edition study: its 100 % random cell on seeds 1-2, a seed 3 that only
    None-GMF has finished (left out: not matched) and a sparser cell (left out)."""
    folder.mkdir()
    (folder / "spec.json").write_text(json.dumps({"search_seed": 0, "seeds": [1, 2, 3]}))
    rows = [truth_row(b, m, s) for s in TRUTH_SEEDS for b in ("gmf", "gmf_bias")
            for m in ("none", "ns", "ig", "ig0")]
    rows += [truth_row("gmf", m, s) for s in TRUTH_SEEDS for m in ("popularity", "item_mean")]
    rows += [truth_row("gmf", "none", 3), truth_row("gmf", "ns", 1, label_fraction=0.1)]
    pd.DataFrame(rows).to_csv(folder / "results.csv", index=False)
    return pd.DataFrame(rows)


def test_chapter_08_on_fake_results(tmp_path):
    results = fake_results(tmp_path / "sim")
    fake_truth(tmp_path / "truth")
    numbers = run_chapter("08_simulated_feed", tmp_path, RESULTS_DIR=str(tmp_path / "sim"),
                          TRUTH_DIR=str(tmp_path / "truth"), SIZE="toy")
    results = results.assign(method=results["method"].where(results["alpha_ratio"] != 0, "ig0"))
    means = results.groupby(["backbone", "method"])[
        ["auc", "gauc", "recall@20", "annotation_first", "annotation_last"]].mean()
    for backbone in ("gmf", "neumf"):
        for method in ("ig", "ig0", "none", "ns"):
            assert numbers[f"auc_{method}_{backbone}"] == pytest.approx(
                means.loc[(backbone, method), "auc"])
            assert numbers[f"gauc_{method}_{backbone}"] == pytest.approx(
                means.loc[(backbone, method), "gauc"])
        for method in ("idl", "ig"):
            for when in ("first", "last"):
                assert numbers[f"annotation_{method}_{backbone}_{when}"] == pytest.approx(
                    means.loc[(backbone, method), f"annotation_{when}"])
    assert numbers["auc_ig_gmf_std"] == pytest.approx(results.query(
        "backbone == 'gmf' and method == 'ig'")["auc"].std())
    # Best baseline on validation: R-CE for GMF (its valid AUC is set high), IDL for NeuMF.
    assert numbers["best_baseline_gmf_index"] == METHOD_ORDER.index("rce")
    assert numbers["best_baseline_neumf_index"] == METHOD_ORDER.index("idl")
    assert numbers["paired_gmf_ig_vs_rce_auc_diff"] == pytest.approx(0.04)
    assert numbers["paired_gmf_ig_vs_rce_auc_wins"] == len(FAKE_SEEDS)
    assert numbers["paired_neumf_ig_vs_none_gauc_diff"] == pytest.approx(0.035)
    # IG (α = 0) is its own method: never the best baseline, compared with IG seed by seed.
    assert numbers["paired_gmf_ig_vs_ig0_auc_diff"] == pytest.approx(0.001)
    assert numbers["paired_gmf_ig_vs_ig0_auc_wins"] == len(FAKE_SEEDS)
    assert numbers["paired_neumf_ig_vs_best_auc_diff"] == pytest.approx(0.01)
    assert numbers["share_moved_ig_gmf"] == 1.0 and numbers["share_moved_ig0_gmf"] == 0.0
    assert numbers["share_pass_ig0_neumf"] == 1.0
    assert numbers["median_changed_ig_neumf"] == 5e4
    assert numbers["chosen_ig_alpha_ratio"] == 1.0
    assert numbers["chosen_ig_meta_steps"] == "per-test-batch"
    assert numbers["industrial_seconds_per_epoch"] == 5.5
    assert numbers["industrial_peak_memory_mb"] == 1000.0
    assert numbers["industrial_time_max_rss_mb"] == 2000.0
    assert numbers["industrial_time_elapsed_s"] == pytest.approx(62.5)
    assert numbers["industrial_labeled"] == 3000
    assert numbers["n_runs"] == 36 and numbers["n_seeds"] == len(FAKE_SEEDS)
    assert 0.0 < numbers["false_negative_rate"] < 1.0
    assert 0.0 < numbers["feed_labeled_fraction"] < 1.0
    # Against the truth: the matched seeds only (None-GMF's seed 3 and the 10 % cell left out).
    assert numbers["truth_n_seeds"] == len(TRUTH_SEEDS) and numbers["truth_n_runs"] == 20
    seed_shift = 0.001 * np.mean(TRUTH_SEEDS)
    for backbone, shift in (("gmf", 0.0), ("gmf_bias", 0.01)):
        for method in ("none", "ns", "ig", "ig0"):
            for judge, value in zip(("auc", "auc_truth", "auc_truthset"), TRUTH_AUC[method]):
                assert numbers[f"truth_{judge}_{method}_{backbone}"] == pytest.approx(
                    value + shift + seed_shift)
        assert numbers[f"truth_auc_none_{backbone}_rank"] == 1
        assert numbers[f"truth_auc_truth_ns_{backbone}_rank"] == 1
        assert numbers[f"truth_auc_truthset_ns_{backbone}_rank"] == 1
        assert numbers[f"truth_auc_truthset_ig0_{backbone}_rank"] == 3
    assert numbers["truth_auc_truthset_item_mean_gmf"] == pytest.approx(0.66 + seed_shift)
    assert numbers["truth_auc_popularity_gmf_std"] == pytest.approx(np.std([0.001, 0.002], ddof=1))
    assert "truth_auc_popularity_gmf_rank" not in numbers  # no model: not ranked


def test_chapter_08_committed_study(tmp_path):
    """The book's key numbers, from the committed study (the feed cells at toy size)."""
    numbers = run_chapter("08_simulated_feed", tmp_path, SIZE="toy")
    results = pd.read_csv(BOOK / "results" / "sim" / "results.csv")
    assert numbers["n_runs"] == len(results) == 54  # 48 and IG (α = 0) beside each IG run
    for backbone in ("gmf", "neumf"):
        # IG tracks None (within a point of AUC and GAUC) ...
        assert abs(numbers[f"auc_ig_{backbone}"] - numbers[f"auc_none_{backbone}"]) < 0.01
        assert abs(numbers[f"gauc_ig_{backbone}"] - numbers[f"gauc_none_{backbone}"]) < 0.01
        # ... and ranks each user's videos worse than NS.
        assert numbers[f"gauc_ns_{backbone}"] > numbers[f"gauc_ig_{backbone}"] + 0.01
        assert numbers[f"recall20_ns_{backbone}"] > numbers[f"recall20_ig_{backbone}"] + 0.03
        for method in ("idl", "ig"):
            first = numbers[f"annotation_{method}_{backbone}_first"]
            last = numbers[f"annotation_{method}_{backbone}_last"]
            assert 0.3 < first < 0.7 and 0.4 < last < 0.75
    assert numbers["auc_ig_gmf"] == pytest.approx(0.8649, abs=5e-4)
    assert numbers["auc_none_gmf"] == pytest.approx(0.8684, abs=5e-4)
    # Validation chose the plain rule at α = 10γ on the released code's reading ...
    assert numbers["chosen_ig_alpha_rule"] == "sgd" and numbers["chosen_ig_alpha_ratio"] == 10.0
    assert numbers["chosen_ig_meta_steps"] == "per-test-batch"
    for backbone in ("gmf", "neumf"):
        # ... whose kept moves change parameters at almost every meta-step ...
        assert numbers[f"share_moved_ig_{backbone}"] > 0.95
        assert numbers[f"median_changed_ig_{backbone}"] > 10_000
        assert numbers[f"share_moved_ig0_{backbone}"] == 0.0
        assert numbers[f"share_pass_ig0_{backbone}"] == 1.0
        # ... and still leave IG within 0.001 of IG (α = 0) in every paired metric.
        for metric in ("auc", "gauc", "recall20"):
            assert abs(numbers[f"paired_{backbone}_ig_vs_ig0_{metric}_diff"]) < 0.001
    assert numbers["annotation_ig_gmf_last"] > numbers["annotation_idl_gmf_last"] + 0.1
    assert numbers["best_baseline_gmf_index"] == METHOD_ORDER.index("dns")
    assert numbers["paired_gmf_ig_vs_dns_auc_wins"] == 0
    assert 0 < numbers["industrial_seconds_per_epoch"] < 60
    assert 200 < numbers["industrial_peak_memory_mb"] < 8000
    assert numbers["industrial_labeled"] > 2_500_000


def truth_numbers(numbers: dict, judge: str, backbone: str) -> dict:
    """The truth section's mean per method of one judge on one backbone."""
    tag = f"truth_{judge}_"
    return {key[len(tag):-len(backbone) - 1]: value for key, value in numbers.items()
            if key.startswith(tag) and key.endswith(f"_{backbone}")
            and not key[len(tag):].startswith(("truth_", "truthset_"))}


def test_chapter_08_against_the_truth(tmp_path):
    """The section 'Against the truth' on the second-edition feed study's 100 % random cell."""
    numbers = run_chapter("08_simulated_feed", tmp_path, SIZE="toy")
    assert 3 <= numbers["truth_n_seeds"] <= 5
    # 8 variants per backbone and two scores that learn nothing, per seed
    assert numbers["truth_n_runs"] == 18 * numbers["truth_n_seeds"]
    best = {}
    for backbone in ("gmf", "gmf_bias"):
        observed = truth_numbers(numbers, "auc", backbone)
        truth = truth_numbers(numbers, "auc_truth", backbone)
        truthset = truth_numbers(numbers, "auc_truthset", backbone)
        # NS and R-CE lead on the truth test set, ahead of None ...
        assert {numbers[f"truth_auc_truthset_{m}_{backbone}_rank"] for m in ("ns", "rce")} \
            == {1, 2}
        assert min(truthset["ns"], truthset["rce"]) > truthset["none"] + 0.002
        # ... which matches or beats them on observed labels
        assert observed["none"] > max(observed["ns"], observed["rce"]) - 0.003
        # IG sits with its α = 0 twin under every judge, at or below None
        for table in (observed, truth, truthset):
            assert abs(table["ig"] - table["ig0"]) < 0.001
            assert table["ig"] < table["none"] + 0.002
        best.update({(backbone, m): v for m, v in truthset.items()})
    for method in ("popularity", "item_mean"):  # no model: with GMF only
        assert (("gmf", method) in best) and (("gmf_bias", method) not in best)
    # the best of everything on the truth test set: NS (or R-CE, within seed noise)
    top = max(best, key=best.get)
    assert top[1] in ("ns", "rce") and 0.80 < best[top] < 0.84
    assert numbers["truth_auc_truthset_ns_gmf"] == pytest.approx(best[top], abs=0.003)
