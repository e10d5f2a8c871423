"""Equal tuning in a study spec (chapter 9): the same number of searched settings for every
learned method, lr among them, a larger grid subsampled with a fixed seed, and a search seed
that is never a final seed."""
from collections import Counter

import pandas as pd
import pytest

from invlearn import InvlearnError
from invlearn.study import check_spec, method_settings, parse_spec, search_cells

BASE = {"dataset": "sim", "sim_size": "toy", "epochs": 2, "threads": 1, "full_ranking": False}
SEARCH = {"*": {"lr": [0.001, 0.003, 0.01]},
          "ns": {"sampling_rate": [1, 2]},  # 3 × 2 = 6 settings
          "tce": {"tce_eps_max": [0.1, 0.2], "tce_eps_n": [100, 1000]},  # 3 × 4 = 12
          "ig": {"alpha_rule": ["sgd", "sign"], "alpha_ratio": [0.1, 1.0, 10.0],
                 "meta_steps": ["per-test-batch", "per-train-batch"]}}  # 3 × 12 = 36


def spec(**changes):
    out = {"base": BASE, "grid": {"method": ["ns", "tce", "ig", "popularity", "item_mean"],
                                  "backbone": ["gmf", "gmf_bias"], "label_fraction": [0.1, 1.0]},
           "search": SEARCH, "search_seed": 100, "seeds": [0, 1, 2, 3, 4],
           "tuning": {"settings": 6, "seed": 7}, "ablate": {"ig": {"alpha_ratio": 0.0}}}
    out.update(changes)
    return out


def test_every_learned_method_gets_the_same_number_of_settings_in_every_cell():
    study = parse_spec(spec())
    check_spec(study)
    cells = search_cells(study)
    per_cell = Counter((c["method"], c["backbone"], c["label_fraction"]) for c in cells)
    for (method, _, _), count in per_cell.items():
        assert count == (1 if method in ("popularity", "item_mean") else 6)
    assert len(per_cell) == 5 * 2 * 2
    assert {c["seed"] for c in cells} == {100}  # the search seed, never a final seed
    lrs = {c["lr"] for c in cells if c["method"] == "ig"}
    assert lrs <= {0.001, 0.003, 0.01}
    # the same draw in every cell, and again on every parse; another tuning seed draws others
    ig = [tuple(sorted(o.items())) for o in method_settings(study, "ig")]
    assert len(set(ig)) == 6
    for backbone in ("gmf", "gmf_bias"):
        drawn = [tuple(sorted((k, c[k]) for k in ("lr", "alpha_rule", "alpha_ratio",
                                                  "meta_steps")))
                 for c in cells if c["method"] == "ig" and c["backbone"] == backbone
                 and c["label_fraction"] == 0.1]
        assert drawn == ig
    assert method_settings(parse_spec(spec()), "ig") == method_settings(study, "ig")
    other = parse_spec(spec(tuning={"settings": 6, "seed": 8}))
    assert method_settings(other, "ig") != method_settings(study, "ig")
    assert len(method_settings(study, "ns")) == 6  # exactly its whole grid


def test_without_tuning_every_setting_is_searched_and_scores_are_not():
    study = parse_spec({k: v for k, v in spec().items() if k != "tuning"})
    assert len(method_settings(study, "ig")) == 36
    assert method_settings(study, "item_mean") == [{}]


@pytest.mark.parametrize("changes,match", [
    ({"search_seed": 0}, "search_seed.*also a final seed"),
    ({"tuning": {"settings": 5, "seed": 7}}, "at least 6"),
    ({"tuning": {"settings": 7, "seed": 7}}, "'ns' has 6 settings in .search., fewer than the 7"),
    ({"tuning": {"settings": 6}}, "missing \\['seed'\\]"),
    ({"tuning": {"settings": 6, "seed": 7, "k": 1}}, "unknown \\['k'\\]"),
    ({"tuning": 6}, "tuning.*must be an object"),
    ({"search": {**SEARCH, "*": {"dim": [8, 16, 32]}}}, "'ns' does not search \"lr\""),
])
def test_bad_tuning_is_refused_with_a_clear_error(changes, match):
    with pytest.raises(InvlearnError, match=match):
        parse_spec(spec(**changes))


def test_a_tuned_study_runs_scores_and_never_tests_on_its_search_seed(tmp_path):
    from invlearn.study import run_study

    study = {"base": {**BASE, "epochs": 1, "device": "cpu"},
             "grid": {"method": ["none", "item_mean"]},
             "search": {"*": {"lr": [0.001, 0.002, 0.003, 0.005, 0.01, 0.02]}},
             "search_seed": 9, "seeds": [1, 2], "tuning": {"settings": 6, "seed": 0}}
    final = run_study(study, tmp_path, jobs=1, engine="python", progress=False)
    searched = pd.read_csv(tmp_path / "search.csv")
    assert Counter(searched["method"]) == {"none": 6, "item_mean": 1}
    assert set(searched["seed"]) == {9} and set(final["seed"]) == {1, 2}
    assert set(final["search_seed"]) == {9}
    assert Counter(final["method"]) == {"none": 2, "item_mean": 2}
    assert final.loc[final["method"] == "item_mean", "prior_strength"].notna().all()
