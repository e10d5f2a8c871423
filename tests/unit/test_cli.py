"""The command line: a run on tiny split files, its JSON, and one-line errors for bad input."""
import json
import subprocess
import sys

import numpy as np
import pytest

from invlearn.cli import main


def write_files(folder, rows_per_user=12, users=30, items=40, seed=0):
    rng = np.random.default_rng(seed)
    paths = {}
    lines = {"train": [], "valid": [], "test": []}
    for u in range(users):
        for j, i in enumerate(rng.choice(items, rows_per_user, replace=False)):
            part = "train" if j < 8 else ("valid" if j < 10 else "test")
            rating = 5 if (u + i) % 2 == 0 else 1
            lines[part].append(f"{u + 100}\t{i + 7}\t{rating}")
    for part, rows in lines.items():
        paths[part] = folder / f"{part}.tsv"
        paths[part].write_text("\n".join(rows) + "\n")
    return paths


def test_train_record_is_the_grid_record(tmp_path):
    """cmd_train writes exactly what run_experiment returns for the same parameters."""
    from invlearn.record import run_experiment

    out = tmp_path / "r.json"
    argv = ["train", "--dataset", "sim", "--sim-size", "toy", "--epochs", "1", "--quiet",
            "--threads", "1", "--no-full-ranking", "--method", "ig"]
    assert main([*argv, "--out", str(out)]) == 0
    written = json.loads(out.read_text())
    again = json.loads(json.dumps(run_experiment(
        {"dataset": "sim", "sim_size": "toy", "epochs": 1, "threads": 1,
         "full_ranking": False, "method": "ig"})))
    timing = {"seconds_load", "seconds_total", "seconds_per_epoch", "peak_memory_mb", "history"}
    assert set(written) == set(again)
    assert written["optimizer"] == "lazy"  # recorded even when left to its default
    assert {k: v for k, v in written.items() if k not in timing} == {
        k: v for k, v in again.items() if k not in timing}


@pytest.mark.parametrize("method", ["ig", "tce", "popularity", "item_mean"])
def test_train_on_split_files_writes_json(tmp_path, capsys, method):
    p = write_files(tmp_path)
    out = tmp_path / "r.json"
    code = main(["train", "--dataset", "files", "--train", str(p["train"]), "--valid",
                 str(p["valid"]), "--test", str(p["test"]), "--method", method, "--epochs", "2",
                 "--batch-size", "64", "--out", str(out), "--quiet", "--threads", "1"])
    assert code == 0
    result = json.loads(out.read_text())
    for key in ("auc", "gauc", "gauc_unweighted", "ndcg@10", "mrr", "recall@20", "ndcg@50"):
        assert 0 <= result[key] <= 1
    assert result["params"]["method"] == method and result["params"]["epochs"] == 2
    assert result["method"] == method and result["dataset"] == "files"
    assert result["data"]["train_rows"] > 0 and result["seconds_total"] > 0
    assert {"valid_auc", "epochs_run", "history", "peak_memory_mb"} <= set(result)
    printed = capsys.readouterr().out
    assert "auc" in printed and "wrote" in printed


def test_bad_input_is_one_line_and_nonzero(tmp_path, capsys):
    p = write_files(tmp_path)
    bad = tmp_path / "bad.tsv"
    bad.write_text("1\t2\t5\n3\t4\tfive\n")  # a comma-separated file is fine: sep is guessed
    cases = [
        (["--dataset", "files", "--train", str(tmp_path / "missing.tsv"), "--valid",
          str(p["valid"]), "--test", str(p["test"])], "missing.tsv"),
        (["--dataset", "files", "--train", str(bad), "--valid", str(p["valid"]), "--test",
          str(p["test"])], "bad.tsv"),
        (["--dataset", "files", "--train", str(p["train"])], "--valid"),
        (["--dataset", "sim", "--sim-size", "huge"], "huge"),
        (["--dataset", "sim", "--epochs", "0"], "epochs"),
    ]
    for args, needle in cases:
        assert main(["train", "--quiet", *args]) == 2
        err = capsys.readouterr().err
        assert needle in err and "Traceback" not in err and err.count("\n") == 1


def test_unknown_names_exit_nonzero_without_traceback():
    for args in (["--method", "magic"], ["--backbone", "mlp"], ["--dataset", "ml-20m"]):
        proc = subprocess.run([sys.executable, "-m", "invlearn", "train", *args],
                              capture_output=True, text=True, check=False)
        assert proc.returncode == 2
        assert "invalid choice" in proc.stderr and "Traceback" not in proc.stderr


def test_bench_runs_on_a_toy_feed(capsys, tmp_path):
    code = main(["bench", "--dataset", "sim", "--sim-size", "toy", "--epochs", "1",
                 "--methods", "ns,ig", "--backbones", "gmf", "--catalogues", "500,5000",
                 "--threads", "1", "--quiet", "--out", str(tmp_path / "bench.json")])
    assert code == 0
    report = json.loads((tmp_path / "bench.json").read_text())
    assert {r["method"] for r in report["epochs"]} == {"ns", "ig"}
    assert set(report["meta_step"]) == {"500", "5000"}
    out = capsys.readouterr().out
    assert "seconds per epoch" in out and "IG meta-step" in out and "5,000 items" in out
    assert main(["bench", "--methods", "nope", "--quiet"]) == 2


def test_train_histories_adds_meta_steps_and_weight_histograms(tmp_path):
    import json

    from invlearn.cli import main

    out = tmp_path / "r.json"
    assert main(["train", "--dataset", "sim", "--sim-size", "toy", "--method", "ig",
                 "--epochs", "2", "--quiet", "--histories", "--out", str(out)]) == 0
    record = json.loads(out.read_text())
    assert len(record["meta"]["direction"]) == record["n_meta_steps"]
    assert set(record["w1_histogram"]) == {"edges", "1", "2"}
