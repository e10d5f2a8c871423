"""Command line: ``python -m invlearn train|bench|grid`` (book chapters 6 and 7).

Every :class:`~invlearn.config.TrainConfig` field is an option of ``train`` (``--alpha-ratio``,
``--tce-eps-max``, …) whose help line is the field's own (:func:`~invlearn.config.field_help`).
Bad input — an unknown or malformed argument, a value out of range, an output that cannot be
written, a malformed grid spec — ends with ONE line ``invlearn: error: …`` on stderr and exit
status 2, before any data is loaded; no traceback, and no output file is created or touched.
A grid in which some run failed finishes the others and exits with status 1.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from .errors import InvlearnError

METRIC_ORDER = ("auc", "gauc", "gauc_unweighted", "ndcg@10", "mrr",
                "recall@20", "ndcg@20", "recall@50", "ndcg@50", "bce")
DEFAULT_NOTEBOOK = Path("book") / "experiment.ipynb"
EXIT_BAD_INPUT = 2
EXIT_RUNS_FAILED = 1


class Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line on stderr and exit status
    2 (chapters 6–7)."""

    def error(self, message: str) -> NoReturn:
        print(f"invlearn: error: {' '.join(message.split())}", file=sys.stderr)
        raise SystemExit(EXIT_BAD_INPUT)


def positive_int(text: str) -> int:
    """An argparse type: an integer ≥ 1 (chapters 6–7)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value


def _config_options(parser: argparse.ArgumentParser) -> None:
    """One option per TrainConfig field; the default ``None`` means "not given" (the field's
    own default applies), the help line is :func:`~invlearn.config.field_help`."""
    from .config import TrainConfig, field_help

    for f in dataclasses.fields(TrainConfig):
        flag = "--" + f.name.replace("_", "-")
        common = {"default": None, "help": field_help(f.name).replace("%", "%%")}
        if "choices" in f.metadata:
            parser.add_argument(flag, choices=f.metadata["choices"], **common)
        elif isinstance(f.default, bool) or f.metadata.get("boolean"):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, **common)
        elif f.name == "device":
            parser.add_argument(flag, metavar="DEVICE", **common)
        elif isinstance(f.default, float):
            parser.add_argument(flag, type=float, metavar="X", **common)
        else:
            parser.add_argument(flag, type=int, metavar="N", **common)


def _data_options(parser: argparse.ArgumentParser, datasets: Sequence[str], default: str,
                  files: bool) -> None:
    parser.add_argument("--dataset", default=None, choices=datasets,
                        help=f"data set (default: {default}"
                        + (", or files when --train/--valid/--test are given)" if files else ")"))
    parser.add_argument("--data-home", default=None, metavar="DIR",
                        help="folder holding ml-1m.zip etc., MovieLens data sets only "
                        "(default: $INVLEARN_DATA or a cache)")
    parser.add_argument("--sim-size", default=None, metavar="SIZE",
                        help="simulated feed size, dataset sim only: toy, small, mid or "
                        "industrial (default: small)")
    if files:
        for part in ("train", "valid", "test"):
            parser.add_argument(f"--{part}", default=None, metavar="PATH",
                                help=f"{part} file, tab-separated user item rating "
                                "(implies --dataset files)")


def _train_parser(sub: Any, datasets: Sequence[str]) -> None:
    tr = sub.add_parser("train", help="train one method and write its run record as JSON",
                        description="Train one method on one data set; print the test metrics "
                        "and optionally write the run record (--out).")
    _data_options(tr, datasets, "sim", files=True)
    tr.add_argument("--out", default=None, metavar="PATH",
                    help="write the run record (JSON) to this file; its folder must exist")
    tr.add_argument("--quiet", action="store_true", help="no progress bar")
    tr.add_argument("--histories", action="store_true",
                    help="also write IG's meta-steps and the IDL weight histograms per epoch "
                         "into --out (what chapters 5-6 draw their figures from)")
    _config_options(tr)


def _bench_parser(sub: Any, datasets: Sequence[str]) -> None:
    from .config import BACKBONES, METHODS

    be = sub.add_parser("bench", help="time training, evaluation and the IG meta-step",
                        description="Time one epoch of each method, the evaluation and one IG "
                        "meta-step at several catalogue sizes.")
    _data_options(be, [d for d in datasets if d != "files"], "ml-1m", files=False)
    be.add_argument("--seed", type=int, default=0, help="seed of the data split (default: 0)")
    be.add_argument("--epochs", type=positive_int, default=3,
                    help="epochs timed per method, the median is reported (default: 3)")
    be.add_argument("--methods", default=",".join(METHODS),
                    help="comma-separated methods to time (default: all)")
    be.add_argument("--backbones", default=",".join(BACKBONES),
                    help="comma-separated backbones to time (default: all)")
    be.add_argument("--catalogues", default="10000,131690",
                    help="comma-separated item counts at which one IG meta-step is timed "
                    "(default: 10000,131690)")
    be.add_argument("--threads", type=positive_int, default=None,
                    help="torch intra-op threads (default: torch's own)")
    be.add_argument("--device", default=None,
                    help="torch device, e.g. cpu or cuda (default: cuda when available)")
    be.add_argument("--out", default=None, metavar="PATH",
                    help="also write the timings as JSON to this file; its folder must exist")
    be.add_argument("--no-cpu-baseline", action="store_true",
                    help="on CUDA, skip timing every method on one CPU core of the same machine "
                    "(the speed-up column)")
    be.add_argument("--quiet", action="store_true", help="no progress bar")


def _grid_parser(sub: Any) -> None:
    gr = sub.add_parser("grid", help="run a study: a search on validation data, then seeds",
                        description="Run every cell of a study spec, several at a time, with "
                        "resume; exit status 1 when a run failed.")
    gr.add_argument("--spec", required=True, metavar="JSON",
                    help='study spec: {"grid": {"method": [...], ...}, "base": {...}, '
                    '"search": {...}, "search_on": {...}, "search_seed": 0, "seeds": [...]}')
    gr.add_argument("--out", required=True, metavar="DIR",
                    help="results folder, created if absent (its parent must exist); "
                    "finished runs in it are not run again")
    gr.add_argument("--jobs", type=positive_int, default=None,
                    help="runs at a time, or the LocalCluster's workers with --executor dask "
                    "(default: one per CPU core; not used with --scheduler)")
    gr.add_argument("--engine", default="papermill", choices=("papermill", "python"),
                    help="what a run is: papermill, --notebook executed once per run; python, "
                    "the training function called directly (default: papermill)")
    gr.add_argument("--executor", default="local", choices=("local", "dask"),
                    help="where runs execute: local, a pool of --jobs processes here; dask, "
                    "a Dask cluster (--scheduler, or a LocalCluster of --jobs worker "
                    "processes); needs pip install 'invlearn[distributed]' (default: local)")
    gr.add_argument("--scheduler", default=None, metavar="ADDRESS",
                    help="address of a running Dask scheduler, e.g. tcp://host:8786, whose "
                    "workers have invlearn installed; --executor dask only (default: start "
                    "a LocalCluster)")
    gr.add_argument("--notebook", default=str(DEFAULT_NOTEBOOK), metavar="PATH",
                    help="notebook the papermill engine runs (default: book/experiment.ipynb "
                    "in the current folder)")
    gr.add_argument("--quiet", action="store_true", help="no progress bar")


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``python -m invlearn``; every option has a help line (chapters 6–7)."""
    from .data import DATASETS

    parser = Parser(prog="invlearn", description="Inverse learning with extremely sparse "
                    "feedback: train one run, time the methods, or run a study (chapters 6-7).")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                help="train, bench or grid")
    _train_parser(sub, DATASETS)
    _bench_parser(sub, DATASETS)
    _grid_parser(sub)
    return parser


def _probe_folder(folder: Path, option: str) -> None:
    """Raise unless ``folder`` is an existing folder in which a file can be created."""
    if not folder.exists():
        raise InvlearnError(f"{option}: folder {folder} does not exist (create it first)")
    if not folder.is_dir():
        raise InvlearnError(f"{option}: {folder} is not a folder")
    try:
        handle, probe = tempfile.mkstemp(prefix=".invlearn-probe-", dir=folder)
    except OSError as err:
        raise InvlearnError(f"{option}: cannot write in {folder}: {err.strerror}") from None
    os.close(handle)
    os.unlink(probe)


def check_out_file(text: str | None, option: str, inputs: Sequence[str | None] = ()) -> None:
    """Raise :class:`~invlearn.errors.InvlearnError` unless ``text`` names a file that can be written: not
    empty, not a folder, in an existing writable folder, and none of the
    ``inputs`` (chapters 6–7)."""
    if text is None:
        return
    if not text.strip():
        raise InvlearnError(f"{option} must name a file, got {text!r}")
    path = Path(text)
    if path.is_dir():
        raise InvlearnError(f"{option} {text} is a folder; name a file")
    resolved = path.resolve()
    for source in inputs:
        if source is not None and Path(source).resolve() == resolved:
            raise InvlearnError(f"{option} {text} is one of the input files")
    _probe_folder(resolved.parent, option)


def check_out_folder(text: str, option: str) -> None:
    """Raise :class:`~invlearn.errors.InvlearnError` unless ``text`` is a writable folder or can be made
    one (chapters 6–7)."""
    if not text.strip():
        raise InvlearnError(f"{option} must name a folder, got {text!r}")
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise InvlearnError(f"{option} {text} is a file, not a folder")
    _probe_folder(path if path.exists() else path.resolve().parent, option)


def _data_params(args: argparse.Namespace, default: str) -> dict[str, Any]:
    """The data keys given on the command line; ``--train/--valid/--test`` imply files."""
    files = {k: getattr(args, k, None) for k in ("train", "valid", "test")}
    dataset = args.dataset
    if any(v is not None for v in files.values()):
        if dataset not in (None, "files"):
            raise InvlearnError(f"--train/--valid/--test need --dataset files, not {dataset}")
        dataset = "files"
    dataset = dataset or default
    if args.sim_size is not None and dataset != "sim":
        raise InvlearnError(f"--sim-size applies only to --dataset sim, not {dataset}")
    if args.data_home is not None and dataset in ("sim", "files"):
        raise InvlearnError(f"--data-home applies only to the MovieLens data sets, not {dataset}")
    missing = [f"--{k}" for k, v in files.items() if v is None]
    if dataset == "files" and missing:
        raise InvlearnError(f"--dataset files needs --train, --valid and --test; missing "
                            f"{', '.join(missing)}")
    keys = {"dataset": dataset, "sim_size": args.sim_size, "data_home": args.data_home, **files}
    return {k: v for k, v in keys.items() if v is not None}


def train_params(args: argparse.Namespace) -> dict[str, Any]:
    """The run parameters of ``train``: data keys and the TrainConfig options
    given (chapters 6–7)."""
    from .experiments import config_fields

    given = {k: getattr(args, k) for k in config_fields() if getattr(args, k) is not None}
    return {**_data_params(args, "sim"), **given}


def metrics_table(metrics: dict) -> str:
    """The metrics as an aligned two-column table (chapters 6–7)."""
    names = [m for m in METRIC_ORDER if m in metrics]
    width = max(len(n) for n in names)
    return "\n".join(f"{n:<{width}}  {metrics[n]:.4f}" for n in names)


def _write(path: str, obj: Any, option: str) -> None:
    from .io import write_json_atomic

    try:
        write_json_atomic(path, obj)
    except OSError as err:
        raise InvlearnError(f"cannot write {option} {path}: {err.strerror}") from None


def cmd_train(args: argparse.Namespace) -> int:
    """Check everything, train one run, print its metrics, write its record
    (``--out``) (chapters 6–7)."""
    from .experiments import check_params, run_experiment
    from .runs import history_record

    params = train_params(args)
    check_params(params)
    check_out_file(args.out, "--out", [args.train, args.valid, args.test])
    record, result = run_experiment(params, progress=not args.quiet, return_result=True)
    print(f"{result.config.method} / {result.config.backbone} on {record['data']['name']}: "
          f"best epoch {result.best_epoch} of {record['epochs_run']}, "
          f"{result.seconds_per_epoch:.2f} s per epoch")
    print(metrics_table(result.metrics))
    if args.out:
        if args.histories:
            record.update(history_record(result.history))
        _write(args.out, record, "--out")
        print(f"wrote {args.out}")
    return 0


def _names(text: str, known: Sequence[str], option: str) -> list[str]:
    names = [n for n in text.split(",") if n]
    bad = [n for n in names if n not in known]
    if bad or not names:
        raise InvlearnError(f"{option}: unknown name(s) {bad}; expected some of {', '.join(known)}")
    return names


def _catalogues(text: str) -> list[int]:
    try:
        sizes = [int(n) for n in text.split(",") if n]
    except ValueError:
        raise InvlearnError(f"--catalogues must be positive integers, got {text!r}") from None
    if not sizes or min(sizes) < 1:
        raise InvlearnError(f"--catalogues must be positive integers, got {text!r}")
    return sizes


def cmd_bench(args: argparse.Namespace) -> int:
    """Check everything, time the methods, print the report, write it as JSON
    (``--out``) (chapters 6–7)."""
    import torch

    from .bench import format_report, run_benchmark
    from .config import BACKBONES, METHODS, TrainConfig, check_device
    from .experiments import check_params, load_data

    methods = _names(args.methods, METHODS, "--methods")
    backbones = _names(args.backbones, BACKBONES, "--backbones")
    catalogues = _catalogues(args.catalogues)
    TrainConfig.from_dict({"seed": args.seed, "epochs": args.epochs})
    if args.device is not None:
        check_device(args.device)
    params = {**_data_params(args, "ml-1m"), "seed": args.seed}
    check_params(params)
    check_out_file(args.out, "--out")
    if args.threads:
        torch.set_num_threads(args.threads)
    if "ns" not in methods:
        methods = ["ns", *methods]
    report = run_benchmark(load_data(params), methods, backbones, args.epochs, catalogues,
                           args.device, progress=not args.quiet,
                           cpu_baseline=not args.no_cpu_baseline)
    print(format_report(report))
    if args.out:
        _write(args.out, {**report, "epochs": report["epochs"].to_dict("records")}, "--out")
        print(f"wrote {args.out}")
    return 0


def read_spec(path: str):
    """The study spec in the JSON file ``path``, parsed and checked (every run's
    settings) (chapters 6–7)."""
    from .experiments import check_spec, parse_spec

    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        reason = getattr(err, "strerror", None) or "not UTF-8 text"
        raise InvlearnError(f"cannot read --spec {path}: {reason}") from None
    try:
        spec = json.loads(text)
    except ValueError as err:
        raise InvlearnError(f"--spec {path} is not valid JSON: {err}") from None
    try:
        study = parse_spec(spec)
        check_spec(study)
    except InvlearnError as err:
        raise InvlearnError(f"--spec {path}: {err}") from None
    return study


def cmd_grid(args: argparse.Namespace) -> int:
    """Check the spec, the output folder and the notebook, then run the study (chapters 6–7)."""
    from .experiments import check_grid_call, run_study

    if args.scheduler is not None and args.executor != "dask":
        raise InvlearnError("--scheduler applies only to --executor dask")
    study = read_spec(args.spec)
    check_out_folder(args.out, "--out")
    jobs = args.jobs or max(1, os.cpu_count() or 1)
    notebook = args.notebook if args.engine == "papermill" else None
    if notebook is not None and not Path(notebook).is_file():
        raise InvlearnError(f"--notebook {notebook} does not exist; run from the book's "
                            f"repository, pass --notebook PATH, or use --engine python")
    check_grid_call([], jobs, args.engine, notebook, args.executor, args.scheduler)
    table = run_study(study, args.out, jobs=jobs, engine=args.engine, notebook=notebook,
                      progress=not args.quiet, executor=args.executor,
                      scheduler=args.scheduler)
    print(f"{len(table)} final runs in {Path(args.out) / 'results.csv'}")
    failed = table.attrs.get("failed", 0)
    if failed:
        print(f"invlearn: {failed} run(s) or cell(s) failed; see "
              f"{Path(args.out) / 'failures.json'}", file=sys.stderr)
        return EXIT_RUNS_FAILED
    return 0


COMMANDS = {"train": cmd_train, "bench": cmd_bench, "grid": cmd_grid}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status (2: bad input, 1: a grid run
    failed) (chapters 6–7)."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as done:
        return int(done.code or 0)
    try:
        return COMMANDS[args.command](args)
    except InvlearnError as err:
        print(f"invlearn: error: {' '.join(str(err).split())}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("invlearn: interrupted", file=sys.stderr)
        return 130
