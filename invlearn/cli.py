"""Command line: ``python -m invlearn train …`` (and the subcommands of later chapters).

Every :class:`~invlearn.methods.TrainConfig` field is an option of ``train`` (``--alpha-ratio``,
``--tce-eps-max``, …). Bad input ends with one line naming the argument or file and a non-zero
exit status, never a traceback.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from .errors import InvlearnError

METRIC_ORDER = ("auc", "gauc", "gauc_unweighted", "ndcg@10", "mrr",
                "recall@20", "ndcg@20", "recall@50", "ndcg@50", "bce")


def _config_options(parser: argparse.ArgumentParser) -> None:
    """One option per TrainConfig field, typed from its default."""
    from .methods import METHODS, TrainConfig
    from .models import BACKBONES

    for f in dataclasses.fields(TrainConfig):
        flag = "--" + f.name.replace("_", "-")
        if f.name == "method":
            parser.add_argument(flag, default=f.default, choices=METHODS)
        elif f.name == "backbone":
            parser.add_argument(flag, default=f.default, choices=BACKBONES)
        elif isinstance(f.default, bool):
            parser.add_argument(flag, default=f.default, action=argparse.BooleanOptionalAction)
        elif f.default is None:
            kind = str if f.name == "device" else int
            parser.add_argument(flag, default=None, type=kind)
        else:
            parser.add_argument(flag, default=f.default, type=type(f.default))


def build_parser() -> argparse.ArgumentParser:
    from .data import DATASETS

    parser = argparse.ArgumentParser(prog="invlearn", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    tr = sub.add_parser("train", help="train one method and write its test metrics as JSON")
    tr.add_argument("--dataset", default="sim", choices=DATASETS)
    tr.add_argument("--data-home", default=None,
                    help="folder holding ml-1m.zip etc. (default: $INVLEARN_DATA or a cache)")
    tr.add_argument("--sim-size", default="small", help="simulated feed size (dataset sim)")
    for part in ("train", "valid", "test"):
        tr.add_argument(f"--{part}", default=None, metavar="PATH",
                        help=f"{part} file, tab-separated user item rating (dataset files)")
    tr.add_argument("--out", default=None, metavar="PATH", help="write the result JSON here")
    tr.add_argument("--quiet", action="store_true", help="no progress bar")
    _config_options(tr)

    from .methods import METHODS
    from .models import BACKBONES

    be = sub.add_parser("bench", help="time training, evaluation and the IG meta-step")
    be.add_argument("--dataset", default="ml-1m", choices=DATASETS)
    be.add_argument("--data-home", default=None)
    be.add_argument("--sim-size", default="small")
    be.add_argument("--seed", type=int, default=0)
    be.add_argument("--epochs", type=int, default=3, help="epochs timed per method (median)")
    be.add_argument("--methods", default=",".join(METHODS))
    be.add_argument("--backbones", default=",".join(BACKBONES))
    be.add_argument("--catalogues", default="10000,131690",
                    help="item counts at which one IG meta-step is timed")
    be.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    be.add_argument("--device", default=None)
    be.add_argument("--quiet", action="store_true")

    gr = sub.add_parser("grid", help="run book/experiment.ipynb for every cell of a grid")
    gr.add_argument("--spec", required=True, metavar="JSON",
                    help='{"base": {...}, "grid": {...}, "search": {...}, "seeds": [...]}')
    gr.add_argument("--out", required=True, metavar="DIR", help="results folder (resumable)")
    gr.add_argument("--jobs", type=int, default=None,
                    help="runs at a time (default: one per CPU core)")
    gr.add_argument("--engine", default="papermill", choices=("papermill", "python"))
    gr.add_argument("--quiet", action="store_true")
    return parser


def _load(args: argparse.Namespace):
    from .data import load_dataset

    extra = {}
    if getattr(args, "dataset", None) == "files" and not hasattr(args, "train"):
        raise InvlearnError("--dataset files is not available for this command")
    if args.dataset == "files":
        missing = [p for p in ("train", "valid", "test") if getattr(args, p) is None]
        if missing:
            raise InvlearnError("--dataset files needs --train, --valid and --test; missing "
                                + ", ".join("--" + m for m in missing))
        extra = {"train": args.train, "valid": args.valid, "test": args.test}
    if args.dataset == "sim":
        extra = {"size": args.sim_size}
    return load_dataset(args.dataset, seed=args.seed, data_home=args.data_home, **extra)


def metrics_table(metrics: dict) -> str:
    """The metrics as an aligned two-column table."""
    names = [m for m in METRIC_ORDER if m in metrics]
    width = max(len(n) for n in names)
    return "\n".join(f"{n:<{width}}  {metrics[n]:.4f}" for n in names)


def cmd_train(args: argparse.Namespace) -> int:
    from .methods import TrainConfig, train

    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    config = TrainConfig(**{k: v for k, v in vars(args).items() if k in fields})
    config.check()
    import resource
    import time

    start = time.perf_counter()
    data = _load(args)
    loaded = time.perf_counter()
    result = train(data, config, progress=not args.quiet)
    out = result.to_dict()
    out["seconds_load"] = loaded - start
    out["seconds_total"] = time.perf_counter() - start
    out["peak_memory_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out["data"] = {"users": data.n_users, "items": data.n_items, "train_rows": len(data.train),
                   "valid_rows": len(data.valid), "test_rows": len(data.test)}
    print(f"{config.method} / {config.backbone} on {data.name}: best epoch {result.best_epoch} "
          f"of {len(result.history.epochs)}, {result.seconds_per_epoch:.2f} s per epoch")
    print(metrics_table(result.metrics))
    if args.out:
        path = Path(args.out)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(out, indent=1, default=float))
        except OSError as err:
            raise InvlearnError(f"cannot write --out {path}: {err.strerror}") from err
        print(f"wrote {path}")
    return 0


def _names(text: str, known: Sequence[str], option: str) -> list[str]:
    names = [n for n in text.split(",") if n]
    bad = [n for n in names if n not in known]
    if bad or not names:
        raise InvlearnError(f"{option}: unknown name(s) {bad}; expected some of {', '.join(known)}")
    return names


def cmd_bench(args: argparse.Namespace) -> int:
    import torch

    from .bench import format_report, run_benchmark
    from .methods import METHODS
    from .models import BACKBONES

    methods = _names(args.methods, METHODS, "--methods")
    backbones = _names(args.backbones, BACKBONES, "--backbones")
    try:
        catalogues = [int(n) for n in args.catalogues.split(",") if n]
    except ValueError as err:
        raise InvlearnError(f"--catalogues must be integers, got {args.catalogues!r}") from err
    if args.threads:
        torch.set_num_threads(args.threads)
    if "ns" not in methods:
        methods = ["ns", *methods]
    data = _load(args)
    report = run_benchmark(data, methods, backbones, args.epochs, catalogues, args.device,
                           progress=not args.quiet)
    print(format_report(report))
    return 0


def cmd_grid(args: argparse.Namespace) -> int:
    import os

    from .experiments import run_study

    try:
        spec = json.loads(Path(args.spec).read_text())
    except OSError as err:
        raise InvlearnError(f"cannot read --spec {args.spec}: {err.strerror}") from err
    except json.JSONDecodeError as err:
        raise InvlearnError(f"--spec {args.spec} is not valid JSON: {err}") from err
    if not isinstance(spec, dict) or not isinstance(spec.get("grid"), dict):
        raise InvlearnError(f"--spec {args.spec} needs a \"grid\" object of lists")
    jobs = args.jobs or max(1, os.cpu_count() or 1)
    table = run_study(spec, args.out, jobs=jobs, engine=args.engine, progress=not args.quiet)
    print(f"{len(table)} final runs in {Path(args.out) / 'results.csv'}")
    return 0


COMMANDS = {"train": cmd_train, "bench": cmd_bench, "grid": cmd_grid}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except InvlearnError as err:
        print(f"invlearn: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("invlearn: interrupted", file=sys.stderr)
        return 130
