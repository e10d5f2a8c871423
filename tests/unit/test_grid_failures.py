"""The grid tells the truth about failures (chapters 6 and 8): a failed run makes the exit
status 1 after the others finish, a cell with no successful search run is recorded, a broken
run record is run again, and killing the grid kills its workers."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import psutil
import pytest
from conftest import FAST, TOY, split_files

from invlearn.cli import main
from invlearn.grid import run_grid
from invlearn.record import run_id

ROOT = Path(__file__).resolve().parents[2]


def test_a_failed_run_makes_the_grid_exit_1_after_the_others(tmp_path, capsys):
    p = split_files(tmp_path)
    spec = {"base": {"dataset": "files", "valid": str(p["valid"]), "test": str(p["test"]),
                     **FAST},
            "grid": {"method": ["ns"], "train": [str(p["train"]), str(p["broken"])]},
            "seeds": [0, 1]}
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    out = tmp_path / "out"
    code = main(["grid", "--spec", str(tmp_path / "spec.json"), "--out", str(out),
                 "--engine", "python", "--jobs", "1", "--quiet"])
    assert code == 1
    failures = json.loads((out / "failures.json").read_text())
    # no search: the broken cell's final runs fail, one per seed, and the others go on
    assert failures["search"] == [] and failures["failed_cells"] == []
    assert len(failures["final"]) == 2
    assert all("broken.tsv" in f["error"] for f in failures["final"].values())
    results = pd.read_csv(out / "results.csv")
    assert sorted(results["seed"]) == [0, 1] and set(results["train"]) == {str(p["train"])}
    assert "failed" in capsys.readouterr().err


def test_a_truncated_record_is_run_again(tmp_path, capsys):
    cells = [{**TOY, "method": "ns", "seed": 0}, {**TOY, "method": "ns", "seed": 1}]
    run_grid(cells, tmp_path, jobs=1, engine="python", progress=False)
    cut = tmp_path / "runs" / f"{run_id(cells[0])}.json"
    kept = tmp_path / "runs" / f"{run_id(cells[1])}.json"
    cut.write_text(cut.read_text()[:40])
    stamp = kept.stat().st_mtime_ns
    table = run_grid(cells, tmp_path, jobs=1, engine="python", progress=True)
    assert f"run {run_id(cells[0])}: record unreadable, running it again" in capsys.readouterr().err
    assert len(table) == 2 and json.loads(cut.read_text())["seed"] == 0
    assert kept.stat().st_mtime_ns == stamp


def test_search_failure_of_every_run_is_recorded_not_dropped(tmp_path, monkeypatch):
    from invlearn import grid, study

    real = grid.run_experiment

    def failing(params, **kwargs):
        if params["method"] == "rce":
            raise RuntimeError("scores diverged")
        return real(params, **kwargs)

    monkeypatch.setattr(grid, "run_experiment", failing)
    monkeypatch.setattr(grid, "ProcessPoolExecutor", grid.ThreadPoolExecutor)
    monkeypatch.setattr(grid, "_die_with_parent", lambda: None)
    spec = {"base": TOY, "grid": {"method": ["ns", "rce"]},
            "search": {"rce": {"rce_beta": [0.1, 0.2]}}, "seeds": [0]}
    final = study.run_study(spec, tmp_path, jobs=1, engine="python", progress=False)
    failures = json.loads((tmp_path / "failures.json").read_text())
    assert failures["failed_cells"] == [{"method": "rce"}]
    assert len(failures["search"]) == 2 and final.attrs["failed"] == 3
    assert final["method"].tolist() == ["ns"]


def workers_of(parent: psutil.Process) -> list[psutil.Process]:
    try:
        return parent.children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def alive(proc: psutil.Process) -> bool:
    try:
        return proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="kill -9 semantics: Linux")
def test_kill_9_of_the_grid_leaves_no_worker(tmp_path):
    spec = {"base": {**TOY, "epochs": 300}, "grid": {"method": ["ns", "ig"]},
            "seeds": [0, 1, 2]}
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    grid = subprocess.Popen([sys.executable, "-m", "invlearn", "grid", "--spec",
                             str(tmp_path / "spec.json"), "--out", str(tmp_path / "out"),
                             "--engine", "python", "--jobs", "2", "--quiet"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    parent = psutil.Process(grid.pid)
    deadline = time.monotonic() + 60
    while len(workers_of(parent)) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    workers = workers_of(parent)
    assert len(workers) >= 2, "the grid started no workers"
    os.kill(grid.pid, signal.SIGKILL)
    grid.wait()
    deadline = time.monotonic() + 20
    while any(alive(w) for w in workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    remaining = [w.pid for w in workers if alive(w)]
    for pid in remaining:  # clean up before failing
        os.kill(pid, signal.SIGKILL)
    assert remaining == []
