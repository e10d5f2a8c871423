"""No option is silently ignored: an option that the chosen method or setting never reads gets
one ``invlearn: warning:`` line naming it (chapters 6 and 8)."""
import pytest

from invlearn import bench, record
from invlearn.cli import main
from invlearn.config import METHOD_SETTINGS, TrainConfig, ignored_settings
from invlearn.errors import InvlearnError

TOY = ["--dataset", "sim", "--sim-size", "toy", "--device", "cpu"]


@pytest.fixture
def stopped(monkeypatch, tmp_path):
    """Commands stop with a one-line error where training or timing would start."""
    def stop(*args, **kwargs):
        raise InvlearnError("stopped here")

    monkeypatch.setattr(record, "run_experiment", stop)
    monkeypatch.setattr(bench, "run_benchmark", stop)
    monkeypatch.chdir(tmp_path)


def warnings_of(argv, capsys) -> list[str]:
    assert main(argv) == 2
    lines = capsys.readouterr().err.splitlines()
    assert lines[-1] == "invlearn: error: stopped here"
    assert all(line.startswith("invlearn: warning: ") for line in lines[:-1])
    return [line for line in lines[:-1] if " is ignored" in line]  # not the data's warnings


@pytest.mark.parametrize(("args", "option"), [
    (["--method", "ns", "--alpha-ratio", "5"], "--alpha-ratio"),
    (["--method", "none", "--dns-k", "4"], "--dns-k"),
    (["--method", "ig", "--tce-eps-max", "0.05"], "--tce-eps-max"),
    (["--method", "idl", "--meta-steps", "per-train-batch"], "--meta-steps"),
    (["--method", "dns", "--srns-memory", "4"], "--srns-memory"),
    (["--method", "ns", "--rce-beta", "0.5"], "--rce-beta"),
    (["--method", "none", "--pool", "hidden", "--label-fraction", "0.5"], "--pool"),
    (["--method", "none", "--sampling-rate", "3"], "--sampling-rate"),
    (["--no-full-ranking", "--ranking-mask", "train+valid"], "--ranking-mask"),
    (["--equal-steps"], "--equal-steps"),
    (["--label-fraction", "1", "--equal-steps"], "--equal-steps"),
    (["--histories"], "--histories"),
], ids=" ".join)
def test_train_warns_once_per_ignored_option(args, option, capsys, stopped):
    lines = warnings_of(["train", "--quiet", *TOY, *args], capsys)
    assert len(lines) == 1 and lines[0].startswith(f"invlearn: warning: {option} is ignored")


@pytest.mark.parametrize("args", [
    ["--method", "ig", "--alpha-ratio", "5", "--meta-steps", "per-train-batch"],
    ["--method", "srns", "--dns-k", "4", "--srns-memory", "8"],
    ["--method", "tce", "--tce-eps-max", "0.1", "--record-rows", "10"],
    ["--ranking-mask", "train+valid"],
    ["--label-fraction", "0.5", "--equal-steps"],
    ["--histories", "--out", "r.json"],
    ["--method", "ns", "--pool", "hidden", "--label-fraction", "0.5"],
], ids=" ".join)
def test_options_that_are_read_give_no_warning(args, capsys, stopped):
    assert warnings_of(["train", "--quiet", *TOY, *args], capsys) == []


def test_bench_no_cpu_baseline_on_the_cpu(capsys, stopped):
    lines = warnings_of(["bench", "--quiet", "--dataset", "sim", "--device", "cpu",
                         "--no-cpu-baseline"], capsys)
    assert lines == [("invlearn: warning: --no-cpu-baseline is ignored: the CPU baseline is "
                     "timed only on CUDA")]


def test_every_method_setting_is_a_field_read_by_known_methods():
    from invlearn.config import METHODS
    from invlearn.record import config_fields

    for name, readers in METHOD_SETTINGS.items():
        assert name in config_fields() and readers and set(readers) <= set(METHODS)
    config = TrainConfig(method="ig")
    assert ignored_settings(config, ["alpha_ratio", "lr", "dns_k"]) == {
        "dns_k": "only dns, srns read it, not ig"}


def test_a_real_run_warns_in_one_line(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code = main(["train", "--quiet", *TOY, "--epochs", "1", "--no-full-ranking",
                 "--method", "ns", "--alpha-ratio", "5"])
    err = capsys.readouterr().err.splitlines()
    assert code == 0
    assert [line for line in err if "--alpha-ratio" in line] == [
        "invlearn: warning: --alpha-ratio is ignored: only ig read it, not ns"]
    assert all(line.startswith("invlearn: warning: ") for line in err)


def test_bad_input_stays_one_line_even_with_an_ignored_option(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--quiet", *TOY, "--method", "ns", "--alpha-ratio", "5",
                 "--out", "missing/r.json"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("invlearn: error: --out")
