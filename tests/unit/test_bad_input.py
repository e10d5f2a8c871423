"""Malformed input gets one line on stderr and exit status 2 — arguments, grid specs, ``--out``
targets — and no output file is created or touched (chapters 6 and 8 run these commands)."""
import contextlib
import hashlib
import io
import json
import re
import string
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from invlearn.cli import main, read_spec
from invlearn.errors import InvlearnError
from invlearn.study import StudySpec

ROOT = Path(__file__).resolve().parents[2]
READ_ONLY = Path("/proc")  # a folder no one can create files in, root included
KEPT = "previous content\n"


def snapshot(folder: Path) -> dict:
    """Every file under ``folder`` with a hash of its content."""
    return {str(p.relative_to(folder)): hashlib.sha1(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """A folder with split files, a spec, an existing output file; the current directory."""
    (tmp_path / "train.tsv").write_text("1\t2\t5\n")
    (tmp_path / "valid.tsv").write_text("1\t3\t1\n")
    (tmp_path / "test.tsv").write_text("1\t4\t5\n")
    (tmp_path / "existing.json").write_text(KEPT)
    (tmp_path / "good.json").write_text(json.dumps({"grid": {"method": ["ns"]},
                                                    "base": {"dataset": "sim",
                                                             "sim_size": "toy"}}))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def assert_rejected(argv, capsys, folder, needle=None):
    """``main(argv)`` exits 2 with one ``invlearn: error:`` line and changes no file."""
    before = snapshot(folder)
    code = main(argv)
    captured = capsys.readouterr()
    assert code == 2, captured
    assert captured.err.count("\n") == 1 and captured.err.startswith("invlearn: error: ")
    assert "Traceback" not in captured.err and "usage:" not in captured.err
    if needle is not None:
        assert needle in captured.err
    assert snapshot(folder) == before
    return captured.err


TRAIN_CASES = [
    (["--seed", "-1"], "seed"),
    (["--seed", "18446744073709551616"], "seed"),
    (["--seed", "1.5"], "--seed"),
    (["--threads", "-1"], "threads"),
    (["--threads", "0"], "threads"),
    (["--device", "foo"], "device"),
    (["--device", "cuda:zero"], "device"),
    (["--dim", "1e12"], "--dim"),
    (["--dim", "100000"], "dim"),
    (["--patience", "0"], "patience"),
    (["--patience", "-1"], "patience"),
    (["--alpha-ratio", "-1"], "alpha_ratio"),
    (["--srns-std-weight", "nan"], "srns_std_weight"),
    (["--lr", "inf"], "lr must be finite"),
    (["--lr", "-0.1"], "lr"),
    (["--lr", "fast"], "--lr"),
    (["--epochs", "0"], "epochs"),
    (["--epochs", "two"], "--epochs"),
    (["--batch-size", "0"], "batch_size"),
    (["--label-fraction", "0"], "label_fraction"),
    (["--label-fraction", "1.5"], "label_fraction"),
    (["--meta-fraction", "1"], "meta_fraction"),
    (["--tce-eps-max", "1"], "tce_eps_max"),
    (["--sampling-rate", "101"], "sampling_rate"),
    (["--record-rows", "0"], "record_rows"),
    (["--dns-k", "0"], "dns_k"),
    (["--srns-memory", "1"], "srns_memory"),
    (["--method", "magic"], "--method"),
    (["--backbone", "mlp"], "--backbone"),
    (["--alpha-rule", "newton"], "--alpha-rule"),
    (["--dataset", "ml-20m"], "--dataset"),
    (["--sim-size", "huge"], "huge"),
    (["--sim-size", "toy", "--dataset", "ml-1m"], "--sim-size"),
    (["--data-home", "."], "--data-home"),
    (["--dataset", "files", "--data-home", ".", "--train", "train.tsv", "--valid",
      "valid.tsv", "--test", "test.tsv"], "--data-home"),
    (["--train", "train.tsv", "--dataset", "sim"], "--dataset files"),
    (["--dataset", "files"], "--train"),
    (["--train", "train.tsv"], "--valid"),
    (["--full-ranking=yes"], "--full-ranking"),
    (["--no-such-option"], "--no-such-option"),
    (["--lr"], "--lr"),
]
if not torch.cuda.is_available():
    TRAIN_CASES.append((["--device", "cuda"], "not available"))


@pytest.mark.parametrize(("args", "needle"), TRAIN_CASES, ids=" ".join)
def test_train_rejects(args, needle, capsys, workdir):
    err = assert_rejected(["train", "--quiet", "--out", "r.json", *args], capsys, workdir, needle)
    assert "scores must not" not in err


@pytest.mark.parametrize("argv", [[], ["fly"], ["train", "extra"], ["grid"],
                                  ["grid", "--spec", "good.json"]], ids=" ".join)
def test_usage_errors_are_one_line(argv, capsys, workdir):
    assert_rejected(argv, capsys, workdir)


def files_args(out):
    return ["train", "--quiet", "--train", "train.tsv", "--valid", "valid.tsv", "--test",
            "test.tsv", "--out", out]


@pytest.mark.parametrize(("out", "needle"), [
    ("", "--out must name a file"),
    ("   ", "--out must name a file"),
    (".", "is a folder"),
    ("missing/r.json", "does not exist"),
    ("existing.json/r.json", "is not a folder"),
    (str(READ_ONLY / "r.json"), "cannot write"),
    ("train.tsv", "input files"),
    ("./sub/../test.tsv", "input files"),
], ids=repr)
def test_train_out_targets(out, needle, capsys, workdir):
    (workdir / "sub").mkdir()
    assert_rejected(files_args(out), capsys, workdir, needle)


def test_train_out_existing_file_survives_a_bad_option(capsys, workdir):
    assert_rejected(["train", "--out", "existing.json", "--lr", "inf"], capsys, workdir, "lr")
    assert (workdir / "existing.json").read_text() == KEPT


SPECS = {
    "list": ([{"grid": {"method": ["ns"]}}], "JSON object"),
    "number": (3, "JSON object"),
    "no grid": ({"base": {}}, '"grid" is missing'),
    "grid not object": ({"grid": ["ns"]}, '"grid"'),
    "no method": ({"grid": {"backbone": ["gmf"]}}, '"method"'),
    "method string": ({"grid": {"method": "ns"}}, '"grid"."method"'),
    "empty method": ({"grid": {"method": []}}, '"grid"."method"'),
    "duplicate method": ({"grid": {"method": ["ns", "ns"]}}, "twice"),
    "nested value": ({"grid": {"method": [["ns"]]}}, "plain values"),
    "seeds number": ({"grid": {"method": ["ns"]}, "seeds": 3}, '"seeds"'),
    "seeds duplicate": ({"grid": {"method": ["ns"]}, "seeds": [0, 0]}, "twice"),
    "seed text": ({"grid": {"method": ["ns"]}, "seeds": ["a"]}, '"seeds"'),
    "seed negative": ({"grid": {"method": ["ns"]}, "seeds": [-1]}, '"seeds"'),
    "seed bool": ({"grid": {"method": ["ns"]}, "seeds": [True]}, '"seeds"'),
    "search seed": ({"grid": {"method": ["ns"]}, "search_seed": 1.5}, '"search_seed"'),
    "unknown key": ({"grid": {"method": ["ns"]}, "seed": [0]}, "unknown key"),
    "unknown base": ({"grid": {"method": ["ns"]}, "base": {"learning_rate": 1}},
                     "learning_rate"),
    "base list": ({"grid": {"method": ["ns"]}, "base": [1]}, '"base"'),
    "unknown grid key": ({"grid": {"method": ["ns"], "momentum": [0.9]}}, "momentum"),
    "bad optimizer": ({"grid": {"method": ["ns"], "optimizer": ["sgd"]}},
                      "optimizer must be one of lazy, dense"),
    "seed in grid": ({"grid": {"method": ["ns"], "seed": [0, 1]}}, '"seeds"'),
    "bad method": ({"grid": {"method": ["ns", "magic"]}}, "magic"),
    "bad base value": ({"grid": {"method": ["ns"]}, "base": {"lr": -1}}, "lr"),
    "bad dataset": ({"grid": {"method": ["ns"], "dataset": ["ml-20m"]}}, "ml-20m"),
    "sim size elsewhere": ({"grid": {"method": ["ns"]},
                            "base": {"dataset": "ml-1m", "sim_size": "toy"}}, "sim_size"),
    "search method": ({"grid": {"method": ["ns"]}, "search": {"magic": {"lr": [1]}}}, "magic"),
    "search list": ({"grid": {"method": ["ns"]}, "search": {"ns": [0.1]}}, '"search"."ns"'),
    "search value": ({"grid": {"method": ["ns"]}, "search": {"*": {"lr": 0.1}}},
                     '"search"."*"."lr"'),
    "search bad value": ({"grid": {"method": ["ns"]}, "search": {"*": {"lr": ["fast"]}}},
                         "lr"),
    "search method key": ({"grid": {"method": ["ns"]}, "search": {"*": {"method": ["ig"]}}},
                          "cannot be searched"),
    "search_on key": ({"grid": {"method": ["ns"]}, "search_on": {"backbone": "gmf"}},
                      '"search_on"'),
    "search_on nothing": ({"grid": {"method": ["ns"]}, "search": {"*": {"lr": [0.01]}},
                           "search_on": {"method": "ig"}},
                          "matches no grid cell"),
}


@pytest.mark.parametrize("name", list(SPECS))
def test_grid_rejects_spec(name, capsys, workdir):
    spec, needle = SPECS[name]
    (workdir / "spec.json").write_text(json.dumps(spec))
    assert_rejected(["grid", "--spec", "spec.json", "--out", "out", "--engine", "python"],
                    capsys, workdir, needle)
    assert not (workdir / "out").exists()


@pytest.mark.parametrize(("args", "needle"), [
    (["--jobs", "0"], "--jobs"),
    (["--jobs", "-2"], "--jobs"),
    (["--jobs", "many"], "--jobs"),
    (["--out", "existing.json"], "is a file"),
    (["--out", "missing/out"], "does not exist"),
    (["--out", str(READ_ONLY / "out")], "cannot write"),
    (["--out", ""], "--out"),
    (["--spec", "absent.json"], "cannot read"),
    (["--spec", "train.tsv"], "not valid JSON"),
    (["--engine", "papermill", "--notebook", "absent.ipynb"], "absent.ipynb"),
    (["--engine", "spark"], "--engine"),
], ids=" ".join)
def test_grid_rejects_arguments(args, needle, capsys, workdir):
    argv = ["grid", "--spec", "good.json", "--out", "out", "--engine", "python", *args]
    assert_rejected(argv, capsys, workdir, needle)
    assert not (workdir / "out").exists()


@pytest.mark.parametrize(("args", "needle"), [
    (["--threads", "0"], "--threads"),
    (["--epochs", "0"], "--epochs"),
    (["--seed", "-3"], "seed"),
    (["--catalogues", "10,x"], "--catalogues"),
    (["--catalogues", "0"], "--catalogues"),
    (["--methods", "nope"], "--methods"),
    (["--backbones", ""], "--backbones"),
    (["--device", "foo"], "device"),
    (["--dataset", "files"], "--dataset"),
    (["--sim-size", "toy"], "--sim-size"),
    (["--dataset", "sim", "--data-home", "."], "--data-home"),
    (["--dataset", "sim", "--out", "."], "is a folder"),
    (["--dataset", "sim", "--out", "missing/b.json"], "does not exist"),
], ids=" ".join)
def test_bench_rejects(args, needle, capsys, workdir):
    assert_rejected(["bench", "--quiet", *args], capsys, workdir, needle)


def not_an_integer(text: str) -> bool:
    try:
        int(text)
    except ValueError:
        return True
    return False


@settings(max_examples=60, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(option=st.sampled_from(["--epochs", "--seed", "--dim", "--threads", "--batch-size",
                               "--patience", "--dns-k"]),
       text=st.text(string.printable + "é½٣", max_size=12).filter(not_an_integer))
def test_integer_options_reject_any_non_integer(option, text):
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(["train", "--quiet", f"{option}={text}"])
    assert code == 2
    assert err.getvalue().count("\n") == 1 and err.getvalue().startswith("invlearn: error:")


SPEC_KEYS = ["grid", "base", "search", "search_on", "search_seed", "seeds", "method", "lr",
             "epochs", "dataset", "sim_size", "ns", "ig", "*", "backbone", "x"]
JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 3) | st.floats(allow_nan=True)
    | st.sampled_from(["ns", "ig", "gmf", "sim", "toy", "", "cuda"]),
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.sampled_from(SPEC_KEYS), inner, max_size=4),
    max_leaves=12)


@settings(max_examples=200, deadline=None, database=None)
@given(spec=st.dictionaries(st.sampled_from(SPEC_KEYS[:6] + ["x"]), JSON, max_size=5) | JSON)
def test_any_json_spec_is_either_a_study_or_one_named_error(spec, tmp_path_factory):
    path = tmp_path_factory.mktemp("spec") / "spec.json"
    path.write_text(json.dumps(spec))
    try:
        study = read_spec(str(path))
    except InvlearnError as err:
        assert "\n" not in str(err).strip() and str(err).startswith(f"--spec {path}")
    else:
        assert isinstance(study, StudySpec) and "method" in study.grid


@pytest.mark.parametrize(("argv", "needle"), [
    (["train", "--seed", "-1"], "seed"),
    (["train", "--lr", "inf"], "lr must be finite"),
    (["train", "--method", "magic"], "invalid choice"),
    (["grid", "--spec", "spec.json", "--out", "out", "--jobs", "0"], "--jobs"),
    (["grid", "--spec", "spec.json", "--out", "out"], "JSON object"),
], ids=" ".join)
def test_real_exit_status_in_a_subprocess(argv, needle, tmp_path):
    (tmp_path / "spec.json").write_text("[1, 2]")
    proc = subprocess.run([sys.executable, "-m", "invlearn", *argv], capture_output=True,
                          text=True, check=False, cwd=tmp_path,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and needle in proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["spec.json"]


OPTION = re.compile(r"^  (-\S+)")


def options_without_help(text: str) -> list[str]:
    """Options in a ``--help`` text with no help line beside or below them."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("options:"))
    bad = []
    for i in range(start + 1, len(lines)):
        match = OPTION.match(lines[i])
        if not match:
            continue
        beside = re.search(r"\S {2,}\S", lines[i].strip())
        below = i + 1 < len(lines) and re.match(r"^ {6,}\S", lines[i + 1])
        if not beside and not below:
            bad.append(match.group(1))
    return bad


@pytest.mark.parametrize("command", ["train", "grid", "bench"])
def test_every_option_has_a_help_line(command):
    proc = subprocess.run([sys.executable, "-m", "invlearn", command, "-h"],
                          capture_output=True, text=True, check=True,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin",
                               "COLUMNS": "100"})
    assert proc.stdout.count("\n  -") >= 6
    assert options_without_help(proc.stdout) == []


def test_help_check_catches_an_option_without_help():
    text = "options:\n  -h, --help  show help\n  --bare\n  --x X       has help\n"
    assert options_without_help(text) == ["--bare"]


def test_train_help_lines_come_from_trainconfig():
    from invlearn.cli import build_parser
    from invlearn.config import field_help

    text = build_parser()._subparsers._group_actions[0].choices["train"].format_help()
    flat = " ".join(text.split())
    for name in ("alpha_ratio", "tce_eps_max", "label_fraction", "meta_steps"):
        assert " ".join(field_help(name).split()) in flat
