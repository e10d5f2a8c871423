"""The dask executor (chapters 6 and 8): where runs execute is separate from what a run is.
A study on a Dask LocalCluster records a failed run and finishes the others, resumes without
running anything again, and gives the same metrics as the local executor."""
import importlib.util
import json
import sys

import pandas as pd
import pytest
from conftest import FAST, TOY, split_files

from invlearn import InvlearnError
from invlearn.cli import main
from invlearn.grid import run_grid

needs_dask = pytest.mark.skipif(importlib.util.find_spec("distributed") is None,
                                reason="dask.distributed is not installed")


def varying(column: str) -> bool:
    """Columns that differ between two runs of the same cell: timings and memory."""
    return column.startswith("seconds") or column == "peak_memory_mb"


def same_metrics(a: pd.DataFrame, b: pd.DataFrame, key: list[str]) -> None:
    keep = [c for c in a.columns if not varying(c)]
    assert sorted(keep) == sorted(c for c in b.columns if not varying(c))
    a = a[keep].sort_values(key).reset_index(drop=True)
    b = b[keep].sort_values(key).reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b)


def grid(spec, out, *options):
    return main(["grid", "--spec", str(spec), "--out", str(out), "--engine", "python",
                 "--quiet", *options])


@needs_dask
def test_dask_study_fails_one_run_resumes_and_matches_local(tmp_path, capsys):
    p = split_files(tmp_path)
    spec = {"base": {"dataset": "files", "valid": str(p["valid"]), "test": str(p["test"]),
                     "backbone": "gmf", **FAST},
            "grid": {"method": ["ns", "rce"], "train": [str(p["train"]), str(p["broken"])]},
            "search": {"*": {"lr": [0.01]}}, "seeds": [0]}
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    out = tmp_path / "dask"
    assert grid(tmp_path / "spec.json", out, "--executor", "dask", "--jobs", "2") == 1
    failures = json.loads((out / "failures.json").read_text())
    assert len(failures["search"]) == 2 and failures["final"] == {}
    assert all("broken.tsv" in f["error"] for f in failures["search"].values())
    assert {c["train"] for c in failures["failed_cells"]} == {str(p["broken"])}
    results = pd.read_csv(out / "results.csv")
    assert sorted(results["method"]) == ["ns", "rce"]
    assert set(results["train"]) == {str(p["train"])}
    assert "failed" in capsys.readouterr().err

    # resume: the finished runs are not run again, the table is the same
    runs = sorted(out.glob("*/runs/*.json"))
    assert len(runs) == 4  # 2 search + 2 final
    stamp = {r: r.stat().st_mtime_ns for r in runs}
    text = (out / "results.csv").read_text()
    assert grid(tmp_path / "spec.json", out, "--executor", "dask", "--jobs", "2") == 1
    assert {r: r.stat().st_mtime_ns for r in sorted(out.glob("*/runs/*.json"))} == stamp
    assert (out / "results.csv").read_text() == text

    # the local executor, same cells: the same metrics (training is deterministic, 1 thread)
    local = tmp_path / "local"
    assert grid(tmp_path / "spec.json", local, "--jobs", "2") == 1
    assert json.loads((local / "failures.json").read_text()).keys() == failures.keys()
    for name in ("search.csv", "results.csv"):
        same_metrics(pd.read_csv(out / name), pd.read_csv(local / name), ["method", "train"])
    assert (out / "chosen.csv").read_text() == (local / "chosen.csv").read_text()


@needs_dask
def test_run_grid_on_a_running_scheduler(tmp_path):
    from distributed import LocalCluster

    cells = [{**TOY, "method": "ig", "seed": 0}, {**TOY, "method": "ns", "seed": 1}]
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster:
        table = run_grid(cells, tmp_path / "dask", jobs=1, progress=False, executor="dask",
                         scheduler=cluster.scheduler_address)
    assert table.attrs["failures"] == {}
    assert len(list((tmp_path / "dask" / "runs").glob("*.json"))) == 2
    local = run_grid(cells, tmp_path / "local", jobs=1, progress=False)
    same_metrics(table, local, ["method"])


def test_scheduler_needs_the_dask_executor(tmp_path, capsys):
    (tmp_path / "spec.json").write_text(json.dumps({"base": TOY, "grid": {"method": ["ns"]}}))
    code = grid(tmp_path / "spec.json", tmp_path / "out", "--scheduler", "tcp://127.0.0.1:8786")
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert err.startswith("invlearn: error: --scheduler applies only to --executor dask")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["spec.json"]
    with pytest.raises(InvlearnError, match="only to the dask executor"):
        run_grid([{**TOY, "method": "ns"}], tmp_path, scheduler="tcp://127.0.0.1:8786")
    with pytest.raises(InvlearnError, match="executor must be one of local, dask"):
        run_grid([{**TOY, "method": "ns"}], tmp_path, executor="slurm")


def test_dask_executor_without_distributed_says_how_to_install(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed fails
    (tmp_path / "spec.json").write_text(json.dumps({"base": TOY, "grid": {"method": ["ns"]}}))
    code = grid(tmp_path / "spec.json", tmp_path / "out", "--executor", "dask")
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert "pip install 'invlearn[distributed]'" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["spec.json"]


@needs_dask
def test_an_unreachable_scheduler_is_one_line_before_any_output(tmp_path, capsys):
    import dask

    (tmp_path / "spec.json").write_text(json.dumps({"base": TOY, "grid": {"method": ["ns"]}}))
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        code = grid(tmp_path / "spec.json", tmp_path / "out", "--executor", "dask",
                    "--scheduler", "tcp://127.0.0.1:1")
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert err.startswith("invlearn: error: cannot reach the Dask scheduler at tcp://127.0.0.1:1")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["spec.json"]
