"""Values that pass the argument checks must not crash or hang later: each ends in one line and
exit status 2 before any training (or, for a run that diverges, exit status 1 naming the
divergence), with no traceback (chapters 6 and 8)."""
import json
import os
import struct
import sys
import zipfile

import pytest
from test_bad_input import assert_rejected

from invlearn.cli import main
from invlearn.errors import InvlearnError
from invlearn.movielens import fetch_movielens, load_movielens, read_ratings


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    (tmp_path / "train.tsv").write_text("1\t2\t5\n1\t3\t1\n2\t2\t4\n")
    (tmp_path / "valid.tsv").write_text("1\t4\t1\n2\t3\t5\n")
    (tmp_path / "test.tsv").write_text("1\t5\t5\n2\t4\t1\n")
    monkeypatch.chdir(tmp_path)
    return tmp_path


FILES = ["--train", "train.tsv", "--valid", "valid.tsv", "--test", "test.tsv"]


def corrupt_deflate_zip(path, member="ml-100k/u.data"):
    """A zip whose one deflated member's stream starts with an invalid block type."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(member, "1\t1\t5\t0\n" * 50)
    data = bytearray(path.read_bytes())
    name_len, extra_len = struct.unpack("<HH", data[26:30])
    data[30 + name_len + extra_len] = 0xFF  # BTYPE 3: reserved, zlib.error on reading
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize(("args", "needle"), [
    (["--device", "meta"], "'meta'"),
    (["--device", "mps"], "mps"),
    (["--label-fraction", "1e-320", "--equal-steps"], "equal_steps"),
    (["--label-fraction", "1e-9", "--equal-steps"], "over 1000000"),
], ids=" ".join)
def test_train_rejects_values_that_crashed(args, needle, capsys, workdir):
    import torch

    if "mps" in args and torch.backends.mps.is_available():
        pytest.skip("this machine has an Apple GPU")
    assert_rejected(["train", "--quiet", *FILES, *args], capsys, workdir, needle)


def test_fifo_as_input_or_spec_does_not_hang(capsys, workdir):
    os.mkfifo(workdir / "fifo")
    argv = ["train", "--quiet", "--train", "fifo", "--valid", "valid.tsv", "--test", "test.tsv"]
    assert_rejected(argv, capsys, workdir, "not a regular file")
    assert_rejected(["grid", "--spec", "fifo", "--out", "out", "--engine", "python"], capsys,
                    workdir, "not a regular file")


@pytest.mark.parametrize("digits", [20, 4301, 10_000])
def test_an_enormous_id_is_an_id_like_any_other(digits, capsys, workdir):
    """Ids are mapped on the way in (any text), so a 10,000-digit id is read as an id, never
    parsed as an integer that overflows."""
    (workdir / "train.tsv").write_text("1\t2\t5\n" + "9" * digits + "\t3\t1\n")
    code = main(["train", "--quiet", "--epochs", "1", *FILES])
    captured = capsys.readouterr()
    assert code == 0, captured
    assert "Traceback" not in captured.err


def test_a_corrupt_deflate_stream_is_bad_input(capsys, workdir):
    (workdir / "H").mkdir()
    corrupt_deflate_zip(workdir / "H" / "ml-100k.zip")
    assert_rejected(["train", "--quiet", "--dataset", "ml-100k", "--data-home", "H"], capsys,
                    workdir, "not a valid zip archive")
    with pytest.raises(InvlearnError, match="not a valid zip archive"):
        load_movielens("ml-100k", workdir / "H")
    with pytest.raises(InvlearnError, match="not a valid zip archive"):
        fetch_movielens("ml-100k", workdir / "H")  # extraction: all of it or nothing
    assert sorted(p.name for p in (workdir / "H").iterdir()) == ["ml-100k.zip"]


@pytest.mark.parametrize(("args", "needle"), [
    (["--catalogues", "100000000000"], "--catalogues must be at most"),
    (["--threads", "100000"], "--threads"),
], ids=" ".join)
def test_bench_bounds(args, needle, capsys, workdir):
    assert_rejected(["bench", "--quiet", "--dataset", "sim", *args], capsys, workdir, needle)


def test_grid_jobs_bounded(capsys, workdir):
    (workdir / "spec.json").write_text(json.dumps({"grid": {"method": ["ns"]}}))
    assert_rejected(["grid", "--spec", "spec.json", "--out", "out", "--engine", "python",
                     "--jobs", "100000"], capsys, workdir, "--jobs")


def test_no_more_workers_than_runs(monkeypatch, tmp_path):
    from invlearn import grid

    sizes = []

    class Pool(grid.ThreadPoolExecutor):
        def __init__(self, max_workers, **kwargs):
            sizes.append(max_workers)
            super().__init__(max_workers)

    monkeypatch.setattr(grid, "ProcessPoolExecutor", Pool)
    cell = {"method": "ns", "dataset": "sim", "sim_size": "toy", "epochs": 1,
            "full_ranking": False, "device": "cpu"}
    table = grid.run_grid([cell], tmp_path / "g", jobs=32, progress=False)
    assert sizes == [1] and len(table) == 1


def test_a_diverged_run_is_named_not_bad_input(capsys, workdir):
    code = main(["train", "--quiet", "--dataset", "sim", "--sim-size", "toy", "--epochs", "2",
                 "--lr", "1e30", "--device", "cpu", "--out", "r.json"])
    err = capsys.readouterr().err
    assert code == 1
    assert "invlearn: run failed: training diverged" in err and "smaller lr" in err
    assert "scores must not contain NaN" not in err and "Traceback" not in err
    assert not (workdir / "r.json").exists()


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-16-le", "utf-32", "utf-8-sig"])
def test_a_utf16_file_is_named_an_encoding_problem(encoding, workdir):
    path = workdir / "ratings.tsv"
    path.write_bytes("1\t2\t5\n3\t4\t1\n".encode(encoding))
    with pytest.raises(InvlearnError, match="UTF-16|byte-order mark"):
        read_ratings(path, min_fields=3)


def test_a_failed_download_leaves_no_folders(workdir, monkeypatch):
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY"):
        monkeypatch.delenv(var, raising=False)
    home = workdir / "H" / "absent" / "sub"
    with pytest.raises(InvlearnError, match="could not download"):
        fetch_movielens("ml-100k", home, url="http://127.0.0.1:9/ml-100k.zip")
    assert not (workdir / "H").exists()
    (workdir / "kept").mkdir()
    with pytest.raises(InvlearnError):
        fetch_movielens("ml-100k", workdir / "kept" / "new", url="http://127.0.0.1:9/x.zip")
    assert (workdir / "kept").is_dir() and not (workdir / "kept" / "new").exists()


def test_cli_warnings_are_one_line(capsys, workdir):
    from invlearn import cli
    from invlearn.errors import warn

    def noisy(args):
        warn("something to say\non two lines")
        return 0

    cli_commands = dict(cli.COMMANDS)
    try:
        cli.COMMANDS["train"] = noisy
        assert main(["train"]) == 0
    finally:
        cli.COMMANDS.update(cli_commands)
    err = capsys.readouterr().err
    assert err == "invlearn: warning: something to say on two lines\n"
    assert sys.modules["warnings"].showwarning.__module__ == "warnings"
