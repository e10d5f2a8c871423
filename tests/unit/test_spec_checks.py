"""A grid spec is checked whole before any run: a spec on which every run would fail, or which
would run a cell twice or drop a setting without a word, is refused with one line naming the key
(chapters 6–9)."""
import json

import pytest
from test_bad_input import assert_rejected

from invlearn.cli import main, read_spec
from invlearn.errors import InvlearnError
from invlearn.record import check_params

TOY = {"dataset": "sim", "sim_size": "toy"}


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    (tmp_path / "valid.tsv").write_text("1\t3\t1\n")
    (tmp_path / "test.tsv").write_text("1\t4\t5\n")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def spec(grid=None, **keys):
    return {"grid": grid or {"method": ["ns"]}, "base": dict(TOY), **keys}


SPECS = {
    "missing train file": (
        {"grid": {"method": ["ns"]}, "base": {"dataset": "files", "train": "absent.tsv",
                                              "valid": "valid.tsv", "test": "test.tsv"}},
        "train: file absent.tsv does not exist"),
    "hidden pool at f=1": (spec({"method": ["ns"], "pool": ["hidden"]}), "label_fraction below 1"),
    "srns with the hidden pool": (
        spec({"method": ["srns"], "pool": ["hidden"], "label_fraction": [0.5]}),
        "srns draws from the pool(s) random"),
    "static step with tce": (
        spec({"method": ["tce"]}, base={**TOY, "step": "static", "optimizer": "dense"}),
        "step 'static' supports"),
    "ambiguous pool on files": (
        {"grid": {"method": ["ns"], "pool": ["ambiguous"]},
         "base": {"dataset": "files", "train": "valid.tsv", "valid": "valid.tsv",
                  "test": "test.tsv"}}, "needs dataset sim"),
    "device meta": (spec(base={**TOY, "device": "meta"}), "'meta'"),
    "key in grid and search": (spec({"method": ["ns"], "lr": [0.1, 0.01]},
                                    search={"*": {"lr": [1.0]}}), "also a key of"),
    "lr 1 and 1.0": (spec({"method": ["ns"], "lr": [1, 1.0]}), "twice"),
    "search lr 1 and 1.0": (spec(search={"ns": {"lr": [1, 1.0]}}), "twice"),
    "seed in base": (spec(base={**TOY, "seed": 3}), '"seeds"'),
    "seed in ablate": (spec({"method": ["ig"]}, ablate={"ig": {"seed": 3}}), '"seeds"'),
    "search for a method not in the grid": (spec(search={"ig": {"alpha_ratio": [0, 1]}}),
                                            "not a method of"),
    "search a setting the method ignores": (
        spec({"method": ["ns", "ig"]}, search={"ns": {"alpha_ratio": [0, 1]}}),
        "does not read"),
    "exclude matching nothing": (spec(exclude=[{"method": "ig"}]), "matches no cell"),
    "more seeds repeating a final seed": (
        spec(seeds=[0, 1], more_seeds=[{"where": {"method": "ns"}, "seeds": [1, 2]}]),
        "repeats a seed"),
    "more seeds matching nothing": (
        spec(more_seeds=[{"where": {"method": "ig"}, "seeds": [5]}]), "matches no cell"),
    "more seeds without seeds": (spec(more_seeds=[{"where": {"method": "ns"}}]),
                                 'takes exactly "where" and "seeds"'),
    "more seeds on the search seed": (
        spec(search={"*": {"lr": [0.001, 0.002, 0.003, 0.004, 0.005, 0.006]}},
             tuning={"settings": 6, "seed": 1}, search_seed=0, seeds=[1],
             more_seeds=[{"where": {"method": "ns"}, "seeds": [0]}]),
        'also a final seed in "seeds" or "more_seeds"'),
    "exclude removing everything": (spec(exclude=[{"method": "ns"}]),
                                    "removes every grid cell"),
}


@pytest.mark.parametrize("name", list(SPECS))
def test_spec_refused_before_any_run(name, capsys, workdir):
    study, needle = SPECS[name]
    (workdir / "spec.json").write_text(json.dumps(study))
    err = assert_rejected(["grid", "--spec", "spec.json", "--out", "out", "--engine", "python"],
                          capsys, workdir, needle)
    assert "search_on" not in err  # no spec here has one: the error names the real cause
    assert not (workdir / "out").exists()


def test_a_duplicate_json_key_is_refused(capsys, workdir):
    (workdir / "spec.json").write_text('{"grid": {"method": ["ns"], "method": ["ig"]}}')
    assert_rejected(["grid", "--spec", "spec.json", "--out", "out", "--engine", "python"],
                    capsys, workdir, "'method' appears twice")


def test_notebook_with_the_python_engine_warns(capsys, workdir, monkeypatch):
    from invlearn import study

    def stop(*args, **kwargs):
        raise InvlearnError("stopped here")

    monkeypatch.setattr(study, "run_study", stop)
    (workdir / "spec.json").write_text(json.dumps(spec()))
    assert main(["grid", "--spec", "spec.json", "--out", "out", "--engine", "python",
                 "--notebook", "nb.ipynb"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "invlearn: warning: --notebook is ignored: the python engine runs no notebook",
        "invlearn: error: stopped here"]


def test_the_book_convention_spec_in_its_results_folder_still_works(workdir):
    (workdir / "out").mkdir()
    (workdir / "out" / "spec.json").write_text(json.dumps(spec(
        {"method": ["ns", "none"], "pool": ["random", "hidden"], "label_fraction": [1.0, 0.5]},
        exclude=[{"label_fraction": 1.0, "pool": "hidden"}],
        search={"*": {"lr": [0.1, 0.01]}})))
    from invlearn.cli import check_out_folder

    study = read_spec("out/spec.json")
    check_out_folder("out", "--out", ["out/spec.json"])
    assert len(study.exclude) == 1


@pytest.mark.parametrize(("params", "needle"), [
    ({"pool": "hidden"}, "label_fraction below 1"),
    ({"method": "srns", "pool": "hidden", "label_fraction": 0.5}, "srns"),
    ({"method": "idl", "step": "static", "optimizer": "dense"}, "step 'static'"),
    ({"method": "ns", "step": "static", "optimizer": "dense", "pool": "hidden",
      "label_fraction": 0.5}, "step 'static'"),
    ({"dataset": "ml-1m", "pool": "ambiguous"}, "needs dataset sim"),
])
def test_train_checks_the_same_before_loading(params, needle):
    with pytest.raises(InvlearnError, match=needle):
        check_params(params)


def test_default_final_seeds_leave_out_the_search_seed():
    """A spec without "seeds" gets three final seeds, none of them the search seed: the number a
    setting was chosen on is never reported as a final result (the winner's curse)."""
    from invlearn.study import parse_spec
    spec = parse_spec({"grid": {"method": ["ns"]}, "search": {"*": {"lr": [0.001, 0.01]}}})
    assert spec.seeds == [1, 2, 3] and spec.search_seed == 0
    assert spec.search_seed not in spec.seeds
