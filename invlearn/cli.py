"""Command line: ``python -m invlearn train|bench|grid``.

Every :class:`~invlearn.config.TrainConfig` field is an option of ``train`` (``--alpha-ratio``,
``--tce-eps-max``, …) whose help line is the field's own (:func:`~invlearn.config.field_help`).
Bad input — an unknown or malformed argument, a value out of range, an output that cannot be
written, a malformed grid spec — ends with ONE line ``invlearn: error: …`` on stderr and exit
status 2, before any data is loaded; no traceback, and no output file is created or touched.
``--out`` is never a link, FIFO, device, input or file of the data home. An option the run
would not read gets one ``invlearn: warning: …`` line (every warning is one line). A grid in
which some run failed finishes the others and exits with status 1; so does a run that diverged
or an output that could not be written (a full disk), each with one line.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from .errors import InvlearnError, OutputError, TrainingDiverged, warn

METRIC_ORDER = ("auc", "gauc", "gauc_unweighted", "ndcg@10", "mrr",
                "recall@20", "ndcg@20", "recall@50", "ndcg@50", "bce")
DEFAULT_NOTEBOOK = Path("book") / "experiment.ipynb"
EXIT_BAD_INPUT = 2
EXIT_RUNS_FAILED = 1
#: The most processes (--jobs) or torch threads (--threads) a command takes.
MAX_WORKERS = 1024
#: The largest catalogue ``bench --catalogues`` times a meta-step at (about 8 GB).
MAX_CATALOGUE = 10_000_000


class Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line on stderr and exit status 2."""

    def error(self, message: str) -> NoReturn:
        print(f"invlearn: error: {' '.join(message.split())}", file=sys.stderr)
        raise SystemExit(EXIT_BAD_INPUT)


def positive_int(text: str, maximum: int | None = None) -> int:
    """An argparse type: an integer ≥ 1, and ≤ ``maximum`` when given."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r:.40}")
    if maximum is not None and value > maximum:
        raise argparse.ArgumentTypeError(f"must be at most {maximum}, got {value}")
    return value


def workers(text: str) -> int:
    """An argparse type: processes or threads, 1 to :data:`MAX_WORKERS`."""
    return positive_int(text, MAX_WORKERS)


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
                                help=f"{part} file of your interactions (implies --dataset "
                                "files; format as for --data)")
        _own_data_options(parser)


def _own_data_options(parser: argparse.ArgumentParser) -> None:
    """The options of your own files (:mod:`invlearn.owndata`)."""
    from .owndata import LABEL_RULE

    own = parser.add_argument_group(
        "your own data", "A file holds user, item [, rating or label [, timestamp]] per line; "
        "ids may be any text (u123, video_9). Label rule: " + LABEL_RULE + ".")
    own.add_argument("--data", default=None, metavar="PATH",
                     help="one interactions file, split by --split with --seed (implies "
                     "--dataset files)")
    own.add_argument("--split", default=None, metavar="F,F,F",
                     help="train, valid, test fractions of --data (default: 0.6,0.2,0.2)")
    own.add_argument("--sep", default=None, metavar="SEP",
                     help="field separator, e.g. , or tab (default: guessed from line 1: "
                     "tab, ::, comma, semicolon, | or space)")
    own.add_argument("--header", default=None, action=argparse.BooleanOptionalAction,
                     help="whether line 1 names the columns (user, item, rating, label, "
                     "timestamp) (default: detected)")
    own.add_argument("--rating-threshold", default=None, type=float, metavar="X",
                     help="label = rating >= X for a rating column (default: 3)")
    own.add_argument("--unlabeled", default=None, metavar="PATH",
                     help="your unlabeled interactions, user item per line (no label): the "
                     "pool IDL, IG and the negative-sampling methods draw from (sets --pool "
                     "unlabeled)")
    own.add_argument("--eval-negatives", default=None, type=int, metavar="N",
                     help="positive-only data: sampled negatives per validation / test "
                     "positive (default: 1)")


def _train_parser(sub: Any, datasets: Sequence[str]) -> None:
    tr = sub.add_parser("train", help="train one method and write its run record as JSON",
                        description="Train one method on one data set; print the test metrics "
                        "and optionally write the run record (--out).")
    _data_options(tr, datasets, "sim", files=True)
    tr.add_argument("--out", default=None, metavar="PATH",
                    help="write the run record (JSON) to this file; its folder must exist")
    tr.add_argument("--save-model", default=None, metavar="PATH",
                    help="save the trained model (weights, config, id maps) to this file, "
                    "for invlearn.load(PATH); its folder must exist")
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
    be.add_argument("--threads", type=workers, default=None,
                    help="torch intra-op threads (default: torch's own)")
    be.add_argument("--device", default=None,
                    help="torch device, e.g. cpu or cuda (default: cuda when available)")
    be.add_argument("--out", default=None, metavar="PATH",
                    help="also write the timings as JSON to this file; its folder must exist")
    be.add_argument("--no-cpu-baseline", action="store_true",
                    help="on CUDA, skip timing every method on one CPU core of the same machine "
                    "(the speed-up column)")


def _grid_parser(sub: Any) -> None:
    gr = sub.add_parser("grid", help="run a study: a search on validation data, then seeds",
                        description="Run every cell of a study spec, several at a time, with "
                        "resume; exit status 1 when a run failed.")
    gr.add_argument("--spec", required=True, metavar="JSON",
                    help='study spec: {"grid": {"method": [...], ...}, "base": {...}, '
                    '"search": {...}, "search_on": {...}, "search_seed": 0, "seeds": [...]}; '
                    "relative file paths in it (data, train, unlabeled, ...) are relative to "
                    "the spec's folder (book/usage.md: an example)")
    gr.add_argument("--out", required=True, metavar="DIR",
                    help="results folder, created if absent (its parent must exist); "
                    "finished runs in it are not run again")
    gr.add_argument("--jobs", type=workers, default=None,
                    help="runs at a time, or the LocalCluster's workers with --executor dask "
                    "(default: one per CPU core; not used with --scheduler)")
    gr.add_argument("--engine", default=None, choices=("papermill", "python"),
                    help="what a run is: papermill, --notebook executed once per run; python, "
                    "the training function called directly (default: papermill inside the "
                    "book's repository, where book/experiment.ipynb exists, else python)")
    gr.add_argument("--executor", default="local", choices=("local", "dask"),
                    help="where runs execute: local, a pool of --jobs processes here; dask, "
                    "a Dask cluster (--scheduler, or a LocalCluster of --jobs worker "
                    "processes); needs pip install 'invlearn[distributed]' (default: local)")
    gr.add_argument("--scheduler", default=None, metavar="ADDRESS",
                    help="address of a running Dask scheduler, e.g. tcp://host:8786, whose "
                    "workers have invlearn installed; --executor dask only (default: start "
                    "a LocalCluster)")
    gr.add_argument("--notebook", default=None, metavar="PATH",
                    help="notebook the papermill engine runs (default: book/experiment.ipynb "
                    "in the current folder)")


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``python -m invlearn``; every option has a help line."""
    from .data import DATASETS

    parser = Parser(prog="invlearn", description="Inverse learning with extremely sparse "
                    "feedback: train one run, time the methods, or run a study (chapters 6 and 8).")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                help="train, bench or grid")
    _train_parser(sub, DATASETS)
    _bench_parser(sub, DATASETS)
    _grid_parser(sub)
    for command in sub.choices.values():
        command.add_argument("--quiet", action="store_true", help="no progress bar")
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


def _name_max(folder: Path) -> int:
    try:
        return os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):
        return 255


def data_files(home: str | os.PathLike | None, whole: bool) -> list[Path]:
    """What an output must never replace in the data home ``home`` (``None``: the default one):
    the home itself when ``whole`` (the run reads from it), else the archives and extracted
    folders of the data sets the package knows."""
    from .movielens import MOVIELENS, PAPER_SPLIT_FOLDER, data_home

    folder = data_home(home).resolve()
    if whole:
        return [folder]
    return [folder / n for name in MOVIELENS for n in (name, f"{name}.zip")] + [
        folder / PAPER_SPLIT_FOLDER]


def _inside(path: Path, guarded: Path) -> bool:
    return path == guarded or guarded in path.parents


def check_out_file(text: str | None, option: str, inputs: Sequence[str | None] = (),
                   guarded: Sequence[Path] = ()) -> None:
    """Raise :class:`~invlearn.errors.InvlearnError` unless ``text`` names a regular file or a
    new one that can be written: not empty, not a folder (nor ending with ``/``), not a link,
    FIFO or device, a name the file system accepts, in an existing writable folder, none of the
    ``inputs`` and not inside any ``guarded`` path (the data home's files, :func:`data_files`)."""
    if text is None:
        return
    if not text.strip():
        raise InvlearnError(f"{option} must name a file, got {text!r}")
    try:
        _check_out_path(Path(text), text, option, inputs, guarded)
    except OSError as err:  # e.g. a folder name over the limit on the way
        raise InvlearnError(f"{option} {text}: {err.strerror}") from None


def _check_out_path(path: Path, text: str, option: str, inputs: Sequence[str | None],
                    guarded: Sequence[Path]) -> None:
    limit = _name_max(path.parent)
    if len(os.fsencode(path.name)) > limit:
        raise InvlearnError(f"{option}: the file name is {len(os.fsencode(path.name))} bytes "
                            f"long, over this file system's limit of {limit}")
    if path.is_dir() or text.endswith(("/", os.sep)):
        raise InvlearnError(f"{option} {text} is a folder; name a file")
    if path.is_symlink():
        raise InvlearnError(f"{option} {text} is a symbolic link; name a regular file or a "
                            f"new one")
    if path.exists() and not path.is_file():
        raise InvlearnError(f"{option} {text} is not a regular file (a FIFO, device or "
                            f"socket); name a regular file or a new one")
    resolved = path.resolve()
    for source in inputs:
        if source is not None and Path(source).resolve() == resolved:
            raise InvlearnError(f"{option} {text} is one of the input files")
    _check_not_guarded(resolved, text, option, guarded, "replace data")
    _probe_folder(resolved.parent, option)


def _check_not_guarded(resolved: Path, text: str, option: str, guarded: Sequence[Path],
                       harm: str) -> None:
    for place in guarded:
        if _inside(resolved, place):
            raise InvlearnError(f"{option} {text} is in the data home ({place}): it would "
                                f"{harm}; write elsewhere")


def check_out_folder(text: str, option: str, inputs: Sequence[str | None] = (),
                     guarded: Sequence[Path] = ()) -> None:
    """Raise :class:`~invlearn.errors.InvlearnError` unless ``text`` is a writable folder or can
    be made one, whose study files would replace none of the ``inputs`` and which is not inside
    any ``guarded`` path."""
    from .study import STUDY_OUTPUTS

    if not text.strip():
        raise InvlearnError(f"{option} must name a folder, got {text!r}")
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise InvlearnError(f"{option} {text} is a file, not a folder")
    resolved = path.resolve()
    _check_not_guarded(resolved, text, option, guarded, "mix results with data")
    for source in filter(None, inputs):
        source = Path(source).resolve()
        if any(_inside(source, resolved / name) for name in STUDY_OUTPUTS):
            raise InvlearnError(f"{option} {text}: the study would write over its input "
                                f"{source}")
    _probe_folder(path if path.exists() else resolved.parent, option)


def _guarded(params: Sequence[dict]) -> list[Path]:
    """The data-home paths no output of runs with these parameters may replace."""
    from .movielens import MOVIELENS

    readers = (*MOVIELENS, "ml-1m-paper")
    places: list[Path] = []
    for p in params:
        places += data_files(p.get("data_home"), whole=p.get("dataset", "sim") in readers)
    return sorted(set(places))


def _data_params(args: argparse.Namespace, default: str) -> dict[str, Any]:
    """The data keys given on the command line; ``--train/--valid/--test`` imply files."""
    files = {k: getattr(args, k, None) for k in ("train", "valid", "test")}  # data.FILE_KEYS
    dataset = args.dataset
    own = own_data_params(args)
    if any(v is not None for v in files.values()) or own.get("data") is not None:
        if dataset not in (None, "files"):
            raise InvlearnError(f"--train/--valid/--test and --data need --dataset files, "
                                f"not {dataset}")
        dataset = "files"
    from .data import check_data_keys

    keys = {"dataset": dataset or default, "sim_size": args.sim_size,
            "data_home": args.data_home, **files, **own}
    keys = {k: v for k, v in keys.items() if v is not None}
    check_data_keys(keys, flags=True)
    return keys


def own_data_params(args: argparse.Namespace) -> dict[str, Any]:
    """The own-data options given (``--data``, ``--split``, ``--sep``, …) as data keys."""
    keys = {k: getattr(args, k, None) for k in ("data", "split", "sep", "header",
                                                "rating_threshold", "unlabeled",
                                                "eval_negatives")}
    if keys["sep"] is not None:
        keys["sep"] = {"tab": "\t", "\\t": "\t", "space": " "}.get(keys["sep"], keys["sep"])
    if keys["split"] is not None:
        from .owndata import parse_fractions

        keys["split"] = list(parse_fractions(keys["split"], "--split"))
    return {k: v for k, v in keys.items() if v is not None}


def train_params(args: argparse.Namespace) -> dict[str, Any]:
    """The run parameters of ``train``: data keys and the TrainConfig options given."""
    from .record import config_fields

    given = {k: getattr(args, k) for k in config_fields() if getattr(args, k) is not None}
    if getattr(args, "unlabeled", None) is not None:
        if given.get("pool", "unlabeled") != "unlabeled":
            raise InvlearnError(f"--unlabeled gives the pool unlabeled; drop --pool "
                                f"{given['pool']}")
        given["pool"] = "unlabeled"
    return {**_data_params(args, "sim"), **given}


def metrics_table(metrics: dict) -> str:
    """The metrics as an aligned two-column table."""
    names = [m for m in METRIC_ORDER if m in metrics]
    width = max(len(n) for n in names)
    return "\n".join(f"{n:<{width}}  {metrics[n]:.4f}" for n in names)


#: What the two kinds of metric are computed on (printed under the table by ``train``).
METRIC_NOTE = ("auc, gauc, ndcg@10, mrr, bce: on the labeled test rows (each user's labeled "
               "items ranked); recall@K, ndcg@K (K = 20, 50): full ranking of every item the "
               "user has no training interaction with (see --ranking-mask)")


def cmd_train(args: argparse.Namespace) -> int:
    """Check everything, train one run, print its metrics, write its record (``--out``)."""
    from .config import ignored_settings
    from .io import write_json_atomic
    from .record import check_params, run_experiment
    from .training import history_record

    params = train_params(args)
    _, config = check_params(params)
    inputs = [args.train, args.valid, args.test, args.data, args.unlabeled]
    check_out_file(args.out, "--out", inputs, _guarded([params]))
    check_out_file(args.save_model, "--save-model", inputs + [args.out], _guarded([params]))
    for name, why in ignored_settings(config, params).items():  # once all is checked
        warn(f"--{name.replace('_', '-')} is ignored: {why}")
    if args.histories and not args.out:
        warn("--histories is ignored: it adds to the record that --out writes")
    record, result = run_experiment(params, progress=not args.quiet, return_result=True)
    print(f"{result.config.method} / {result.config.backbone} on {record['data']['name']}: "
          f"best epoch {result.best_epoch} of {record['epochs_run']}, "
          f"{result.seconds_per_epoch:.2f} s per epoch")
    if "evaluation" in record["data"]:
        print(f"evaluation: {record['data']['evaluation']}")
    print(metrics_table(result.metrics))
    print(f"({METRIC_NOTE})")
    if args.save_model:
        result.save(args.save_model)
        print(f"saved the model to {args.save_model} (invlearn.load)")
    if args.out:
        if args.histories:
            record.update(history_record(result.history))
        write_json_atomic(args.out, record)  # an OutputError names the file
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
    if max(sizes) > MAX_CATALOGUE:
        raise InvlearnError(f"--catalogues must be at most {MAX_CATALOGUE} items (one "
                            f"meta-step's feed and model must fit in memory), got {max(sizes)}")
    return sizes


def cmd_bench(args: argparse.Namespace) -> int:
    """Check everything, time the methods, print the report, write it as JSON (``--out``)."""
    import torch

    from .bench import format_report, run_benchmark
    from .config import BACKBONES, METHODS, TrainConfig, check_device
    from .io import write_json_atomic
    from .record import check_params, load_data
    from .training import pick_device

    methods = _names(args.methods, METHODS, "--methods")
    backbones = _names(args.backbones, BACKBONES, "--backbones")
    catalogues = _catalogues(args.catalogues)
    TrainConfig.from_dict({"seed": args.seed, "epochs": args.epochs})
    if args.device is not None:
        check_device(args.device)
    params = {**_data_params(args, "ml-1m"), "seed": args.seed}
    check_params(params)
    check_out_file(args.out, "--out", guarded=_guarded([params]))
    if args.no_cpu_baseline and pick_device(args.device).type != "cuda":
        warn("--no-cpu-baseline is ignored: the CPU baseline is timed only on CUDA")
    if args.threads:
        torch.set_num_threads(args.threads)
    if "ns" not in methods:
        methods = ["ns", *methods]
    report = run_benchmark(load_data(params), methods, backbones, args.epochs, catalogues,
                           args.device, progress=not args.quiet,
                           cpu_baseline=not args.no_cpu_baseline)
    print(format_report(report))
    if args.out:
        write_json_atomic(args.out, {**report, "epochs": report["epochs"].to_dict("records")})
        print(f"wrote {args.out}")
    return 0


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object's pairs as a dict; a key given twice is an error, not the last one kept."""
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise ValueError(f"key {key!r} appears twice in one object")
        seen[key] = value
    return seen


def read_spec(path: str):
    """The study spec in the JSON file ``path``, parsed and checked (every run's settings)."""
    from .study import check_spec, parse_spec

    if Path(path).exists() and not Path(path).is_file():  # a FIFO would block forever
        raise InvlearnError(f"cannot read --spec {path}: not a regular file")
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        reason = getattr(err, "strerror", None) or "not UTF-8 text"
        raise InvlearnError(f"cannot read --spec {path}: {reason}") from None
    try:
        spec = json.loads(text, object_pairs_hook=_unique_keys)
    except ValueError as err:
        raise InvlearnError(f"--spec {path} is not valid JSON: {err}") from None
    try:
        study = parse_spec(spec_paths_resolved(spec, Path(path).resolve().parent))
        check_spec(study)
    except InvlearnError as err:
        raise InvlearnError(f"--spec {path}: {err}") from None
    return study


def spec_paths_resolved(spec: Any, folder: Path) -> Any:
    """``spec`` with the relative paths of its ``base`` and ``grid`` (the data keys that name
    files or folders) made relative to ``folder``, the spec's own; each file must exist."""
    from .data import PATH_KEYS

    if not isinstance(spec, dict):
        return spec

    def resolved(key: str, value: Any, where: str) -> Any:
        if key not in PATH_KEYS or not isinstance(value, str) or not value:
            return value
        full = Path(value).expanduser()
        full = full if full.is_absolute() else folder / full
        if key != "data_home" and not full.is_file():
            raise InvlearnError(f"{where}.{key}: file {value} does not exist (relative paths "
                                f"are relative to the spec's folder {folder})")
        return str(full)

    out = dict(spec)
    if isinstance(spec.get("base"), dict):
        out["base"] = {k: resolved(k, v, '"base"') for k, v in spec["base"].items()}
    if isinstance(spec.get("grid"), dict):
        out["grid"] = {k: [resolved(k, v, '"grid"') for v in values]
                       if isinstance(values, list) else values
                       for k, values in spec["grid"].items()}
    return out


def summary_text(table: Any, study: Any) -> str:
    """The final runs as mean ± std over seeds, one row per grid cell."""
    from .chapters.report import format_summary, summarize

    metrics = [m for m in ("auc", "gauc", "ndcg@10", "recall@20", "ndcg@20")
               if m in getattr(table, "columns", ())]
    group = [k for k in study.grid if k in table.columns and table[k].nunique() > 1]
    group = group or ["method"]
    if table.empty or not metrics:
        return ""
    frame = format_summary(summarize(table, group, metrics), metrics)
    frame["runs"] = summarize(table, group, metrics[:1])["n"].to_numpy()
    return f"test metrics, mean ± std over seeds:\n{frame.to_string()}"


def cmd_grid(args: argparse.Namespace) -> int:
    """Check the spec, the output folder and the notebook, then run the study."""
    from .grid import check_grid_call, grid_cells
    from .study import run_study

    if args.scheduler is not None and args.executor != "dask":
        raise InvlearnError("--scheduler applies only to --executor dask")
    study = read_spec(args.spec)
    given = args.notebook or str(DEFAULT_NOTEBOOK)
    if args.engine is None:  # papermill inside the book's repository, python elsewhere
        args.engine = "papermill" if Path(given).is_file() else "python"
    notebook = given if args.engine == "papermill" else None
    check_out_folder(args.out, "--out", [args.spec, notebook],
                     _guarded([{**study.base, **c} for c in grid_cells(study.grid)]))
    jobs = args.jobs or max(1, os.cpu_count() or 1)
    if notebook is not None and not Path(notebook).is_file():
        raise InvlearnError(f"--notebook {notebook} does not exist; run from the book's "
                            f"repository, pass --notebook PATH, or use --engine python")
    check_grid_call([], jobs, args.engine, notebook, args.executor, args.scheduler)
    if args.notebook is not None and args.engine != "papermill":
        warn("--notebook is ignored: the python engine runs no notebook")
    table = run_study(study, args.out, jobs=jobs, engine=args.engine, notebook=notebook,
                      progress=not args.quiet, executor=args.executor,
                      scheduler=args.scheduler)
    summary = summary_text(table, study)
    if summary:
        print(summary)
    print(f"{len(table)} final runs in {Path(args.out) / 'results.csv'}")
    failed = table.attrs.get("failed", 0)
    if failed:
        print(f"invlearn: {failed} run(s) or cell(s) failed; see "
              f"{Path(args.out) / 'failures.json'}", file=sys.stderr)
        return EXIT_RUNS_FAILED
    return 0


def _one_line_warning(message: Warning | str, category: type[Warning], filename: str,
                      lineno: int, file: Any = None, line: str | None = None) -> None:
    """``warnings.showwarning`` of the command line: one line ``invlearn: warning: …``."""
    print(f"invlearn: warning: {' '.join(str(message).split())}", file=sys.stderr)


COMMANDS = {"train": cmd_train, "bench": cmd_bench, "grid": cmd_grid}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status (2: bad input, 1: a grid run failed)."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as done:
        return int(done.code or 0)
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _one_line_warning
            return COMMANDS[args.command](args)
    except (InvlearnError, OutputError) as err:
        print(f"invlearn: error: {' '.join(str(err).split())}", file=sys.stderr)
        return EXIT_BAD_INPUT if isinstance(err, InvlearnError) else EXIT_RUNS_FAILED
    except TrainingDiverged as err:
        print(f"invlearn: run failed: {' '.join(str(err).split())}", file=sys.stderr)
        return EXIT_RUNS_FAILED
    except KeyboardInterrupt:
        print("invlearn: interrupted", file=sys.stderr)
        return 130
