"""``--out`` never destroys a file: anything but a regular file or a new path in an existing
folder, an input, or a file in the data home is refused with one line, before any training
(chapters 6 and 8)."""
import json
import os
from pathlib import Path

import pytest
from test_bad_input import assert_rejected

from invlearn.cli import main

ARCHIVE = b"PK\x05\x06" + bytes(18)  # an empty zip archive: only its bytes matter here


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A data home ``H`` with MovieLens archives, a split triple and the current directory."""
    (tmp_path / "H").mkdir()
    for name in ("ml-100k.zip", "ml-1m.zip"):
        (tmp_path / "H" / name).write_bytes(ARCHIVE)
    (tmp_path / "train.tsv").write_text("1\t2\t5\n")
    (tmp_path / "valid.tsv").write_text("1\t3\t1\n")
    (tmp_path / "test.tsv").write_text("1\t4\t5\n")
    (tmp_path / "existing.json").write_text("kept\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("INVLEARN_DATA", str(tmp_path / "H"))
    return tmp_path


FILES = ["--train", "train.tsv", "--valid", "valid.tsv", "--test", "test.tsv"]


@pytest.mark.parametrize(("args", "needle"), [
    (["--dataset", "ml-100k", "--data-home", "H", "--out", "H/ml-100k.zip"], "data home"),
    (["--dataset", "ml-100k", "--data-home", "H", "--out", "H/record.json"], "data home"),
    (["--dataset", "ml-100k", "--data-home", "H", "--out", "./H/../H/ml-1m.zip"], "data home"),
    (["--dataset", "ml-1m", "--out", "H/ml-1m.zip"], "data home"),  # INVLEARN_DATA
    (["--dataset", "sim", "--out", "H/ml-1m.zip"], "data home"),  # an archive, never replaced
    (["--out", "slash.json/", *FILES], "is a folder"),
    (["--out", "existing.json/", *FILES], "folder"),
    (["--out", "x" * 256 + ".json", *FILES], "over this file system's limit"),
    (["--out", "x" * 300, *FILES], "over this file system's limit"),
], ids=lambda a: " ".join(a)[:60] if isinstance(a, list) else a)
def test_train_out_never_replaces_data(args, needle, capsys, home):
    assert_rejected(["train", "--quiet", *args], capsys, home, needle)
    assert (home / "H" / "ml-100k.zip").read_bytes() == ARCHIVE
    assert not (home / "slash.json").exists()


@pytest.mark.parametrize("kind", ["fifo", "symlink", "dangling symlink"])
def test_train_out_must_be_a_regular_file(kind, capsys, home):
    target = home / "special"
    if kind == "fifo":
        os.mkfifo(target)
    elif kind == "symlink":
        target.symlink_to(home / "existing.json")
    else:
        target.symlink_to(home / "nowhere.json")
    assert_rejected(["train", "--quiet", "--out", "special", *FILES], capsys, home,
                    "symbolic link" if "symlink" in kind else "not a regular file")
    assert target.is_symlink() or target.is_fifo()
    assert (home / "existing.json").read_text() == "kept\n"


def test_train_out_device_node_is_refused(capsys, home):
    code = main(["train", "--quiet", "--out", "/dev/null", *FILES])
    err = capsys.readouterr().err
    assert code == 2 and "not a regular file" in err and err.count("\n") == 1
    assert Path("/dev/null").is_char_device()


@pytest.mark.parametrize(("args", "needle"), [
    (["--dataset", "ml-100k", "--data-home", "H", "--out", "H/ml-100k.zip"], "data home"),
    (["--dataset", "ml-1m", "--out", "H/bench.json"], "data home"),
    (["--dataset", "sim", "--out", "slash.json/"], "is a folder"),
    (["--dataset", "sim", "--out", "/dev/null"], "not a regular file"),
], ids=lambda a: " ".join(a)[:60] if isinstance(a, list) else a)
def test_bench_out_never_replaces_data(args, needle, capsys, home):
    assert_rejected(["bench", "--quiet", *args], capsys, home, needle)
    assert (home / "H" / "ml-100k.zip").read_bytes() == ARCHIVE


@pytest.mark.parametrize(("spec_name", "out", "base", "needle"), [
    ("spec.json", "H", {"dataset": "ml-100k"}, "data home"),
    ("spec.json", "H/study", {"dataset": "ml-100k"}, "data home"),
    ("study/results.csv", "study", {}, "write over its input"),
    ("study/final/spec.json", "study", {}, "write over its input"),
], ids=repr)
def test_grid_out_never_replaces_inputs_or_data(spec_name, out, base, needle, capsys, home):
    spec = home / spec_name
    spec.parent.mkdir(parents=True, exist_ok=True)
    spec.write_text(json.dumps({"grid": {"method": ["ns"]}, "base": base, "seeds": [0]}))
    assert_rejected(["grid", "--spec", spec_name, "--out", out, "--engine", "python"],
                    capsys, home, needle)


def test_a_new_file_and_a_regular_file_are_still_fine(home):
    from invlearn.cli import check_out_file

    check_out_file("new.json", "--out")
    check_out_file("existing.json", "--out")
    check_out_file(str(home / "H" / "elsewhere.json"), "--out")  # sim run: the home is not read


def test_train_out_with_a_long_folder_name_on_the_way(capsys, home):
    assert_rejected(["train", "--quiet", "--out", "y" * 300 + "/r.json", *FILES], capsys, home,
                    "too long")
