"""Smoke tests of book chapter 6 (Reproducing the paper on MovieLens-1M).

The chapter only reads result files, so it is run twice: on the committed ML-1M results (the
book's numbers) and on a tiny made-up results folder with known answers, which shows that every
number in it is computed from the files it is given.
"""
from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest
from conftest import BOOK, run_chapter

from invlearn.chapters.report import METHOD_ORDER

AUC = {"ig0": .83, "none": .80, "ns": .75, "tce": .74, "rce": .76, "dns": .70, "srns": .65, "idl": .77,
       "ig": .85}


def fake_results(folder) -> None:
    """2 splits × 2 backbones × (8 methods + IG at α = 0) × seeds 0, 1. R-CE has the best
    validation AUC of the baselines (but not the best test AUC); IG is 0.09 + 0.003·seed above
    it on test AUC and 0.02 above IG at α = 0; weighted GAUC is always 0.01 above the
    unweighted one."""
    folder.mkdir()
    shutil.copy(BOOK / "results" / "ml1m" / "spec.json", folder / "spec.json")
    rows = []
    for dataset in ("ml-1m", "ml-1m-paper"):
        for backbone in ("gmf", "neumf"):
            for method in [m for m in METHOD_ORDER if m in AUC]:  # learned methods
                for seed in (0, 1):
                    auc = AUC[method] + 0.001 * seed + (0.003 * seed if method == "ig" else 0)
                    if method == "ig0":
                        auc = AUC["ig"] + 0.001 * seed + 0.003 * seed - 0.02
                    ig = method in ("ig", "ig0")
                    rows.append({
                        "dataset": dataset, "backbone": backbone,
                        "method": "ig" if ig else method,
                        "alpha_ratio": (0.0 if method == "ig0" else 0.1) if ig else None,
                        "share_tie": (1.0 if method == "ig0" else 0.0) if ig else None,
                        "share_moved": (0.0 if method == "ig0" else 1.0) if ig else None,
                        "median_changed": (0.0 if method == "ig0" else 5e4) if ig else None,
                        "median_relative_move": (0.0 if method == "ig0" else 1e-3)
                        if ig else None,
                        "seed": seed, "auc": auc, "gauc": auc - 0.05,
                        "gauc_unweighted": auc - 0.06, "ndcg@10": 0.9, "mrr": 0.95,
                        "recall@20": 0.1, "ndcg@20": 0.12,
                        "valid_auc": 0.95 if method == "rce" else auc,
                        "seconds_per_epoch": 2.0, "epochs_run": 5,
                        "rce_beta": 0.25 if method == "rce" else None,
                        "share_direct": {"ig": 0.5, "ig0": 0.0}.get(method),
                        "share_pass": {"ig": 0.1, "ig0": 1.0}.get(method),
                        "share_inverse": {"ig": 0.4, "ig0": 0.0}.get(method)})
    pd.DataFrame(rows).to_csv(folder / "results.csv", index=False)
    search = pd.DataFrame({"method": ["rce", "rce"], "rce_beta": [0.1, 0.25],
                           "valid_auc": [0.9, 0.95], "seconds_per_epoch": [1.0, 1.0],
                           "epochs_run": [3, 4]})
    search.to_csv(folder / "search.csv", index=False)
    search.iloc[[1]].drop(columns=["seconds_per_epoch", "epochs_run"]).to_csv(
        folder / "chosen.csv", index=False)


@pytest.fixture(scope="module")
def fake(tmp_path_factory) -> dict:
    tmp = tmp_path_factory.mktemp("ch06_fake")
    fake_results(tmp / "results")
    return run_chapter("06_movielens", tmp, RESULTS_DIR=str(tmp / "results"), USE_DATA=False,
                       HISTORIES_DIR=str(tmp / "no-histories"))


@pytest.fixture(scope="module")
def book(tmp_path_factory) -> dict:
    return run_chapter("06_movielens", tmp_path_factory.mktemp("ch06"))


def test_fake_results_are_read(fake: dict) -> None:
    assert fake["n_runs"] == 72 and fake["n_search_runs"] == 2
    assert fake["epochs_total"] == 72 * 5 + 3 + 4
    for backbone in ("gmf", "neumf"):
        assert fake[f"{backbone}_best_index"] == METHOD_ORDER.index("rce")  # by validation
        assert fake[f"{backbone}_ig_auc"] == pytest.approx(0.85 + 0.002, abs=1e-9)
        assert fake[f"{backbone}_none_auc"] == pytest.approx(0.8005, abs=1e-9)
        tag = f"{backbone}_ig_vs_best_auc"
        assert fake[f"{tag}_diff"] == pytest.approx(0.0915, abs=1e-9)
        assert fake[f"{tag}_pairs"] == 4 and fake[f"{tag}_wins"] == 4
        assert fake[f"{tag}_p_sign"] == pytest.approx(0.125)  # 2 · 0.5^4
        assert fake[f"{tag}_p_wilcoxon"] == pytest.approx(0.125)
        assert 0 < fake[f"{tag}_p_t"] < 1e-3
        # IG against itself with the move switched off (α = 0): 0.02 in every pair
        assert fake[f"{backbone}_ig_vs_ig0_auc_diff"] == pytest.approx(0.02, abs=1e-9)
        assert fake[f"{backbone}_ig_vs_ig0_auc_wins"] == 4
    assert fake["gauc_gap_mean"] == pytest.approx(0.01)
    assert fake["ndcg10_min"] == fake["ndcg10_max"] == pytest.approx(0.9)
    assert fake["positive_share_from_data"] == 0
    assert fake["positive_share"] == pytest.approx(836_478 / 1_000_209)
    assert 0.8 < fake["random_ndcg10"] < 0.95


def test_book_numbers(book: dict) -> None:
    assert book["n_runs"] == 108 and book["n_search_runs"] == 42  # 96 + 12 IG (α = 0)
    for backbone in ("gmf", "neumf"):
        assert book[f"{backbone}_best_index"] == METHOD_ORDER.index("none")
        assert book[f"{backbone}_ig_vs_best_auc_pairs"] == 6
        assert book[f"{backbone}_ig_auc"] == pytest.approx(0.832, abs=0.01)  # paper: .832/.825
        assert book[f"{backbone}_ig_vs_ns_auc_diff"] > 0.03
        assert book[f"{backbone}_ig_vs_ns_auc_wins"] == 6
        assert book[f"{backbone}_ns_recall20"] > 4 * book[f"{backbone}_ig_recall20"]
        # IG's meta-step changes nothing measurable: IG and IG (α = 0) tie run by run
        assert abs(book[f"{backbone}_ig_vs_ig0_auc_diff"]) < 0.001
        assert book[f"{backbone}_ig_vs_ig0_auc_p_sign"] > 0.2
    assert abs(book["gmf_ig_vs_best_auc_diff"]) < 0.002  # a tie
    assert book["gmf_ig_vs_best_auc_p_t"] > 0.5
    assert book["neumf_ig_vs_best_auc_diff"] < -0.003 and book["neumf_ig_vs_best_auc_wins"] == 0
    assert book["gauc_gap_min"] > 0 and book["gauc_gap_mean"] == pytest.approx(0.0114, abs=1e-3)
    assert 0.94 < book["ndcg10_min"] < book["ndcg10_max"] < 0.97
    assert book["positive_share"] == pytest.approx(0.836, abs=0.002)


def test_key_numbers_are_plain(book: dict) -> None:
    assert all(isinstance(v, (int, float)) for v in book.values())
    json.dumps(book)
