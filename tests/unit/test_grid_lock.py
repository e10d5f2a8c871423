"""Two grids, one folder: a folder in use by another grid is refused at once, and a folder that
holds another study is refused rather than replaced; the same spec resumes (chapters 6 and 8)."""
import json
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from test_bad_input import assert_rejected, snapshot

from invlearn.cli import main
from invlearn.errors import InvlearnError
from invlearn.grid import LOCK_NAME, folder_lock, run_grid

BASE = {"dataset": "sim", "sim_size": "toy", "epochs": 1, "full_ranking": False,
        "device": "cpu", "threads": 1}
HOLD = ("import fcntl, sys, time\n"
        "f = open(sys.argv[1], 'a+')\n"
        "fcntl.flock(f, fcntl.LOCK_EX)\n"
        "f.seek(0); f.truncate(); f.write('4242\\n'); f.flush()\n"
        "print('held', flush=True)\n"
        "time.sleep(60)\n")


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write_spec(folder: Path, name: str, **keys) -> str:
    spec = {"grid": {"method": ["ns"]}, "base": BASE, "seeds": [0], **keys}
    (folder / name).write_text(json.dumps(spec))
    return name


def grid(spec: str) -> list[str]:
    return ["grid", "--spec", spec, "--out", "out", "--engine", "python", "--jobs", "1",
            "--quiet"]


def test_a_folder_in_use_is_refused_at_once(workdir, capsys):
    (workdir / "out").mkdir()
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(workdir / "out" / LOCK_NAME)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        start = time.perf_counter()
        assert_rejected(grid(write_spec(workdir, "spec.json")), capsys, workdir,
                        "in use by another grid (process 4242)")
        assert time.perf_counter() - start < 30
        with pytest.raises(InvlearnError, match="in use"):
            run_grid([{**BASE, "method": "ns"}], workdir / "out", progress=False)
    finally:
        holder.kill()
        holder.wait()
    assert sorted(p.name for p in (workdir / "out").iterdir()) == [LOCK_NAME]


def test_the_lock_is_exclusive_and_released(tmp_path):
    second = folder_lock(tmp_path)
    with folder_lock(tmp_path), pytest.raises(InvlearnError, match="in use by another grid"):
        second.__enter__()
    with folder_lock(tmp_path):  # released on leaving
        assert (tmp_path / LOCK_NAME).read_text().strip().isdigit()


def test_another_study_in_the_folder_is_refused_and_the_same_resumes(workdir, capsys):
    assert main(grid(write_spec(workdir, "first.json"))) == 0
    capsys.readouterr()
    first = snapshot(workdir / "out")
    assert json.loads((workdir / "out" / "study.json").read_text())["seeds"] == [0]
    assert_rejected(grid(write_spec(workdir, "second.json", seeds=[1])), capsys, workdir,
                    "holds another study (its study.json differs in seeds)")
    assert snapshot(workdir / "out") == first
    assert main(grid("first.json")) == 0  # the same spec: resumed, nothing run again
    assert "1 final runs" in capsys.readouterr().out
    assert len(list((workdir / "out" / "final" / "runs").iterdir())) == 1



def test_more_seeds_for_some_cells_run_only_there_and_keep_the_runs_made(workdir, capsys):
    first = write_spec(workdir, "first.json", grid={"method": ["ns", "none"]})
    assert main(grid(first)) == 0
    assert "more_seeds" not in json.loads((workdir / "out" / "study.json").read_text())
    capsys.readouterr()
    runs = workdir / "out" / "final" / "runs"
    before = {p.name: p.stat().st_mtime_ns for p in runs.iterdir()}
    assert len(before) == 2
    more = write_spec(workdir, "more.json", grid={"method": ["ns", "none"]},
                      more_seeds=[{"where": {"method": "ns"}, "seeds": [3, 4]}])
    assert main(grid(more)) == 0
    assert "with 1 cell(s) given more" in capsys.readouterr().err
    after = {p.name: p.stat().st_mtime_ns for p in runs.iterdir()}
    assert len(after) == 4 and all(after[n] == t for n, t in before.items())
    table = pd.read_csv(workdir / "out" / "results.csv")
    assert sorted(zip(table["method"], table["seed"])) == [("none", 0), ("ns", 0), ("ns", 3),
                                                           ("ns", 4)]
    assert main(grid(more)) == 0  # resumed: nothing runs again
    assert {p.name: p.stat().st_mtime_ns for p in runs.iterdir()} == after
    # dropping the entry again is another study
    assert_rejected(grid(first), capsys, workdir,
                    "holds another study (its study.json differs in more_seeds)")


def test_the_same_spec_twice_at_once_is_refused(workdir, capsys, monkeypatch):
    from invlearn import study

    spec = write_spec(workdir, "spec.json", seeds=[0, 1])
    real_study, seen = study._study, []

    def study_with_a_second_grid(*args, **kwargs):
        seen.append(main(grid(spec)))  # a second grid while the first holds the folder
        seen.append(capsys.readouterr().err)
        return real_study(*args, **kwargs)

    monkeypatch.setattr(study, "_study", study_with_a_second_grid)
    assert main(grid(spec)) == 0
    assert seen[0] == 2 and "in use by another grid" in seen[1] and seen[1].count("\n") == 1
    assert len(list((workdir / "out").rglob("runs/*.json"))) == 2  # no search: the 2 final runs


def test_appending_final_seeds_resumes_the_study_and_runs_only_the_new_seeds(workdir, capsys):
    assert main(grid(write_spec(workdir, "first.json"))) == 0
    capsys.readouterr()
    runs = workdir / "out" / "final" / "runs"
    before = {p.name: p.stat().st_mtime_ns for p in runs.iterdir()}
    assert main(grid(write_spec(workdir, "more.json", seeds=[0, 1]))) == 0
    err = capsys.readouterr().err
    assert "final seeds grow from [0] to [0, 1]" in err
    after = {p.name: p.stat().st_mtime_ns for p in runs.iterdir()}
    assert len(after) == 2 and all(after[n] == t for n, t in before.items())  # seed 0 kept
    assert json.loads((workdir / "out" / "study.json").read_text())["seeds"] == [0, 1]
    # seeds that drop or reorder the first ones are another study
    assert_rejected(grid(write_spec(workdir, "fewer.json", seeds=[1])), capsys, workdir,
                    "holds another study (its study.json differs in seeds)")
