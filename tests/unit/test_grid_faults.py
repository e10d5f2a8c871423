"""Faults of the machine, not of the runs — a worker killed, a full disk, a file size limit — are
recorded or named in one line, never a traceback, and every table written can be read back
(chapters 6 and 8)."""
import errno
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from invlearn import grid, io
from invlearn.cli import main
from invlearn.errors import OutputError

ROOT = Path(__file__).resolve().parents[2]
TOY = {"method": "ns", "dataset": "sim", "sim_size": "toy", "epochs": 1, "full_ranking": False,
       "device": "cpu", "threads": 1}
REAL_RUN = grid._run_python


def killed_at_seed_1(params, out_dir, notebook):
    """A run whose worker the kernel kills (as the out-of-memory killer would) at seed 1."""
    if params["seed"] == 1:
        os.kill(os.getpid(), signal.SIGKILL)
    return REAL_RUN(params, out_dir, notebook)


def always_fails(params, out_dir, notebook):
    raise RuntimeError("this run fails")


def test_a_killed_worker_is_a_recorded_failure_and_the_grid_goes_on(monkeypatch, tmp_path):
    monkeypatch.setattr(grid, "_run_python", killed_at_seed_1)
    cells = [{**TOY, "seed": s} for s in (0, 1, 2)]
    table = grid.run_grid(cells, tmp_path, jobs=1, progress=False)
    assert sorted(table["seed"]) == [0, 2]
    failures = json.loads((tmp_path / "failures.json").read_text())
    assert [f["params"]["seed"] for f in failures.values()] == [1]
    assert "ended abruptly" in next(iter(failures.values()))["error"]
    assert len(pd.read_csv(tmp_path / "results.csv")) == 2


def test_no_finished_run_still_gives_a_readable_table(monkeypatch, tmp_path):
    monkeypatch.setattr(grid, "_run_python", always_fails)
    table = grid.run_grid([{**TOY, "seed": 0}], tmp_path / "a", progress=False)
    assert table.empty and "method" in table.columns
    back = pd.read_csv(tmp_path / "a" / "results.csv")
    assert back.empty and list(back.columns) == list(TOY) + ["seed"]
    grid.run_grid([], tmp_path / "b", progress=False)
    assert list(pd.read_csv(tmp_path / "b" / "results.csv").columns) == list(
        grid.EMPTY_COLUMNS)
    with pytest.raises(ValueError, match="without columns"):
        io.write_csv_atomic(tmp_path / "c.csv", pd.DataFrame())


def test_a_failed_write_raises_output_error_and_leaves_the_old_file(monkeypatch, tmp_path):
    target = tmp_path / "results.csv"
    target.write_text("old\n")

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(io.os, "fsync", full)
    with pytest.raises(OutputError, match="cannot write .*results.csv: No space left") as info:
        io.write_csv_atomic(target, pd.DataFrame({"a": [1]}))
    assert isinstance(info.value, OSError) and info.value.errno == errno.ENOSPC
    assert target.read_text() == "old\n" and sorted(p.name for p in tmp_path.iterdir()) == [
        "results.csv"]


@pytest.mark.parametrize("victim", ["failures.json", "results.csv"])
def test_a_full_disk_at_the_study_tables_is_one_line(victim, monkeypatch, tmp_path, capsys):
    real = os.fsync

    def full_for_victim(fd):
        if victim in os.readlink(f"/proc/self/fd/{fd}"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real(fd)

    monkeypatch.setattr(io.os, "fsync", full_for_victim)
    monkeypatch.chdir(tmp_path)
    spec = {"grid": {"method": ["ns"]}, "base": {k: v for k, v in TOY.items() if k != "method"},
            "seeds": [0]}
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    code = main(["grid", "--spec", "spec.json", "--out", "out", "--engine", "python",
                 "--jobs", "1", "--quiet"])
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err
    assert err.splitlines()[-1].startswith(f"invlearn: error: cannot write out/final/{victim}")
    assert "No space left on device" in err
    assert not list(tmp_path.rglob("*.tmp"))


def test_a_file_size_limit_is_one_line(tmp_path):
    spec = {"grid": {"method": ["ns"]}, "base": {k: v for k, v in TOY.items() if k != "method"},
            "seeds": [0]}
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    script = ("import resource, sys\n"
              "resource.setrlimit(resource.RLIMIT_FSIZE, (200, 200))\n"
              "from invlearn.cli import main\n"
              "sys.exit(main(['grid', '--spec', 'spec.json', '--out', 'out', '--engine', "
              "'python', '--jobs', '1', '--quiet']))\n")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          cwd=tmp_path, check=False,  # no .pyc: the limit would cut it short
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin",
                               "PYTHONDONTWRITEBYTECODE": "1"})
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    assert proc.stderr.splitlines()[-1].startswith("invlearn: error: cannot write ")
    assert "File too large" in proc.stderr
