"""The grid runner: papermill execution, resume, failures, the search on validation data."""
import json
from pathlib import Path

import pandas as pd
import pytest

from invlearn import InvlearnError
from invlearn.cli import main
from invlearn.grid import grid_cells, run_grid
from invlearn.record import run_id
from invlearn.study import choose_best, run_study

BASE = {"dataset": "sim", "sim_size": "toy", "backbone": "gmf", "epochs": 2, "threads": 1,
        "full_ranking": False}


def test_grid_cells_product_and_errors():
    cells = grid_cells({"method": ["ns", "ig"], "seed": [0, 1]}, {"epochs": 1})
    assert len(cells) == 4 and all(c["epochs"] == 1 for c in cells)
    assert len({run_id(c) for c in cells}) == 4
    with pytest.raises(InvlearnError, match="at least one value"):
        grid_cells({"method": []})


NOTEBOOK = Path(__file__).resolve().parents[2] / "book" / "experiment.ipynb"


def test_papermill_grid_runs_and_resumes(tmp_path):
    cells = [{**BASE, "method": "ig", "seed": 0}, {**BASE, "method": "ns", "seed": 0}]
    table = run_grid(cells, tmp_path, jobs=2, engine="papermill", notebook=NOTEBOOK,
                     progress=False)
    assert sorted(table["method"]) == ["ig", "ns"]
    assert set(table.columns) >= {"auc", "gauc", "best_epoch", "seconds_per_epoch",
                                  "annotation_last", "share_direct", "valid_auc", "epochs_run"}
    assert json.loads((tmp_path / "failures.json").read_text()) == {}
    assert len(pd.read_csv(tmp_path / "results.csv")) == 2
    stamp = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "runs").glob("*.json")}
    again = run_grid(cells, tmp_path, jobs=2, engine="papermill", notebook=NOTEBOOK,
                     progress=False)  # resume: nothing to run
    assert len(again) == 2
    assert stamp == {p.name: p.stat().st_mtime_ns for p in (tmp_path / "runs").glob("*.json")}


def test_grid_checks_every_cell_before_any_run(tmp_path):
    cells = [{**BASE, "method": "ns", "seed": 0}, {**BASE, "method": "ns", "lr": -1.0}]
    with pytest.raises(InvlearnError, match="lr must be positive"):
        run_grid(cells, tmp_path, jobs=1, engine="python", progress=False)
    assert not (tmp_path / "runs").exists()


def test_papermill_engine_needs_an_existing_notebook(tmp_path):
    cells = [{**BASE, "method": "ns"}]
    with pytest.raises(InvlearnError, match="notebook"):
        run_grid(cells, tmp_path, engine="papermill", progress=False)
    with pytest.raises(InvlearnError, match="does not exist"):
        run_grid(cells, tmp_path, engine="papermill", notebook=tmp_path / "no.ipynb",
                 progress=False)


def test_study_chooses_on_validation_and_runs_seeds(tmp_path):
    spec = {"base": BASE, "grid": {"method": ["ns", "rce"]},
            "search": {"*": {"lr": [0.001, 0.01]}, "rce": {"rce_beta": [0.1, 0.5]}},
            "seeds": [0, 1]}
    final = run_study(spec, tmp_path, jobs=2, engine="python", progress=False)
    search = pd.read_csv(tmp_path / "search.csv")
    assert len(search) == 2 + 4
    chosen = pd.read_csv(tmp_path / "chosen.csv")
    for _, row in chosen.iterrows():
        rows = search[search["method"] == row["method"]]
        assert row["valid_auc"] == rows["valid_auc"].max()
    assert len(final) == 4 and sorted(set(final["seed"])) == [0, 1]


def test_study_searches_on_one_scope_and_applies_it_everywhere(tmp_path):
    spec = {"base": BASE, "grid": {"sim_size": ["toy"], "backbone": ["gmf", "neumf"],
                                   "method": ["rce"]},
            "search": {"rce": {"rce_beta": [0.1, 0.5], "batch_size": [48, 64]}},
            "search_on": {"backbone": "gmf"},
            "seeds": [0]}
    final = run_study(spec, tmp_path, jobs=2, engine="python", progress=False)
    assert len(pd.read_csv(tmp_path / "search.csv")) == 4  # GMF only: 2 × 2 settings
    chosen = pd.read_csv(tmp_path / "chosen.csv")
    assert len(chosen) == 1
    assert sorted(final["backbone"]) == ["gmf", "neumf"]
    assert set(final["rce_beta"]) == {chosen["rce_beta"].iloc[0]}
    assert final["batch_size"].dtype.kind == "i"  # integer settings stay integers


def test_choose_best_ignores_test_metrics():
    table = pd.DataFrame({"method": ["a", "a"], "lr": [1, 2], "valid_auc": [0.6, 0.5],
                          "auc": [0.1, 0.9]})
    assert choose_best(table, ["method"], ["lr"])["lr"].tolist() == [1]


def test_cli_grid_rejects_bad_spec(tmp_path, capsys):
    bad = tmp_path / "spec.json"
    bad.write_text("{not json")
    assert main(["grid", "--spec", str(bad), "--out", str(tmp_path / "o")]) == 2
    assert "not valid JSON" in capsys.readouterr().err


def test_package_without_book_folder_runs_a_python_grid(tmp_path):
    """A non-editable install has no book/ beside the package: import and engine python work,
    python is the default engine there, and the papermill engine says which notebook is
    missing."""
    import shutil
    import subprocess
    import sys

    site = tmp_path / "site"
    shutil.copytree(Path(__file__).resolve().parents[2] / "invlearn", site / "invlearn",
                    ignore=shutil.ignore_patterns("__pycache__"))
    work = tmp_path / "work"
    work.mkdir()
    spec = {"base": {**BASE, "epochs": 1}, "grid": {"method": ["ns"]}, "seeds": [0]}
    (work / "spec.json").write_text(json.dumps(spec))
    env = {"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"}
    run = [sys.executable, "-m", "invlearn", "grid", "--spec", "spec.json", "--out", "out",
           "--quiet", "--jobs", "1"]
    proc = subprocess.run([*run, "--engine", "python"], cwd=work, env=env, capture_output=True,
                          text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert len(pd.read_csv(work / "out" / "results.csv")) == 1
    default = [*run[:run.index("out")], "out2", *run[run.index("out") + 1:]]
    proc = subprocess.run(default, cwd=work, env=env, capture_output=True, text=True,
                          check=False)
    assert proc.returncode == 0, proc.stderr  # no book/experiment.ipynb here: engine python
    assert len(pd.read_csv(work / "out2" / "results.csv")) == 1
    proc = subprocess.run([*run, "--engine", "papermill"], cwd=work, env=env,
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 2 and "--notebook book/experiment.ipynb does not exist" in proc.stderr


def test_study_ablates_ig_at_its_chosen_settings(tmp_path):
    spec = {"base": BASE, "grid": {"method": ["ig", "none"]},
            "search": {"ig": {"alpha_rule": ["sgd", "sign"]}}, "seeds": [0, 1],
            "ablate": {"ig": {"alpha_ratio": 0.0}}}
    final = run_study(spec, tmp_path, jobs=2, engine="python", progress=False)
    ig = final[final["method"] == "ig"]
    assert len(final) == 6 and len(ig) == 4
    off = ig[ig["alpha_ratio"] == 0.0]
    assert sorted(off["seed"]) == [0, 1] and (off["share_moved"] == 0).all()
    chosen_rule = pd.read_csv(tmp_path / "chosen.csv").set_index("method").loc["ig", "alpha_rule"]
    assert set(ig["alpha_rule"]) == {chosen_rule}


@pytest.mark.parametrize("ablate,match", [({"ns": {"alpha_ratio": 0}}, "not a method"),
                                          ({"ig": {"nope": 1}}, "unknown parameter"),
                                          ({"ig": 0}, "must be an object"),
                                          ({"ig": {"alpha_ratio": -1}}, "alpha_ratio")])
def test_study_rejects_bad_ablations(ablate, match):
    from invlearn.study import check_spec, parse_spec

    spec = {"base": BASE, "grid": {"method": ["ig"]}, "ablate": ablate}
    with pytest.raises(InvlearnError, match=match):
        check_spec(parse_spec(spec))


def test_study_cells_leave_out_excluded_partial_cells():
    from invlearn.study import parse_spec, study_cells

    spec = parse_spec({"base": BASE, "grid": {"method": ["ns", "idl"],
                                              "label_fraction": [0.5, 1.0],
                                              "pool": ["random", "hidden"]},
                       "exclude": [{"label_fraction": 1.0, "pool": "hidden"},
                                   {"method": "ns", "pool": "hidden"}]})
    cells = study_cells(spec)
    assert len(cells) == 8 - 2 - 1  # (1.0, hidden) for both methods, (ns, 0.5, hidden)
    assert {(c["method"], c["label_fraction"], c["pool"]) for c in cells
            if c["pool"] == "hidden"} == {("idl", 0.5, "hidden")}
    with pytest.raises(InvlearnError, match="not a key"):
        parse_spec({"grid": {"method": ["ns"]}, "exclude": [{"seed": 1}]})


def test_annotation_is_scored_against_withheld_labels_without_a_simulator(toy_split):
    import dataclasses

    import numpy as np

    from invlearn import train
    from invlearn.record import annotation_columns

    blind = dataclasses.replace(toy_split, truth=None)  # as MovieLens: no simulator to ask
    hidden = train(blind, method="idl", label_fraction=0.5, pool="hidden", epochs=3,
                   full_ranking=False, progress=False, threads=1)
    cols = annotation_columns(hidden, blind)
    rec = hidden.history.weights[hidden.best_epoch]
    called, true = rec["w1"] > 0.5, rec["true"] == 1
    assert cols["annotation_accuracy"] == pytest.approx(np.mean(called == true))
    assert cols["pool_positive_share"] == pytest.approx(np.mean(true))
    assert 0 < cols["pool_positive_share"] < 1  # withheld rows hold both labels
    random = train(blind, method="idl", epochs=2, full_ranking=False, progress=False, threads=1)
    assert annotation_columns(random, blind) == {}  # random pairs of MovieLens: no truth
    ns = train(toy_split, method="ns", epochs=2, full_ranking=False, progress=False, threads=1)
    assert annotation_columns(ns, toy_split) == {}  # no annotation without IDL weights
    from invlearn import load_dataset

    sim = load_dataset("sim", size="toy")  # the simulator knows every pair's label
    with_truth = annotation_columns(
        train(sim, method="idl", epochs=2, full_ranking=False, progress=False, threads=1), sim)
    assert set(with_truth) == {"annotation_first", "annotation_last", "annotation_accuracy",
                               "pool_positive_share", "pool_truth_share"}
    # random pairs: their labels come from the truth, so both shares are the same number
    assert with_truth["pool_truth_share"] == with_truth["pool_positive_share"]


def test_study_without_a_search_runs_its_cells_at_each_seed_only(tmp_path):
    spec = {"base": BASE, "grid": {"method": ["ig", "ns"]}, "seeds": [1, 2],
            "ablate": {"ig": {"alpha_ratio": 0.0}}}
    final = run_study(spec, tmp_path, jobs=1, engine="python", progress=False)
    assert not (tmp_path / "search").exists() and not (tmp_path / "chosen.csv").exists()
    assert len(list((tmp_path / "final" / "runs").glob("*.json"))) == 6
    assert sorted(final.groupby("method").size().items()) == [("ig", 4), ("ns", 2)]
    assert sorted(final.loc[final["alpha_ratio"] == 0.0, "seed"]) == [1, 2]
    assert json.loads((tmp_path / "failures.json").read_text())["final"] == {}
