"""Benchmark: training and evaluation speed, memory, and the IG meta-step's cost by catalogue size.

``python -m invlearn bench`` prints, on ML-1M at batch 1024 (or the simulated feed with
``--dataset sim``): seconds per epoch for each method × backbone (median over epochs), the ratio
of each method to NS on the same backbone, the time of one full evaluation (labeled-test metrics
and full-ranking metrics separately), peak memory and the thread setting; then the time of one
IG meta-step (lines 9–21 of Algorithm 1, with its γ step) on the simulated feed at 10,000 and at
131,690 items. On CUDA it also times the static-shape path (:func:`invlearn.static.train_static`,
CUDA graphs) and a *yardstick*: a plain GMF BCE step at batch 1024 captured whole in one CUDA
graph, times the batches of one epoch, with every method's ratio to it. The report names the
device, the torch version and the thread settings. Timings are measurements of this machine,
never asserted in tests.
"""
from __future__ import annotations

import platform
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch

from . import losses
from .config import BACKBONES, METHODS, TrainConfig
from .data import Split
from .errors import InvlearnError
from .ig import ig_meta_step
from .methods import train
from .models import build_model
from .optim import Adam
from .record import peak_memory_mb
from .sampling import pair_keys, sample_unlabeled
from .training import evaluate, pick_device, ranking_metrics, sync


def _median_time(fn: Callable[[], object], repeat: int, device: torch.device) -> float:
    times = []
    for _ in range(repeat):
        sync(device)
        start = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def _epoch_rows(data: Split, methods: Sequence[str], backbones: Sequence[str], epochs: int,
                device: str | None, trainer: Callable, **settings: Any) -> pd.DataFrame:
    rows = []
    for backbone in backbones:
        for method in methods:
            result = trainer(data, TrainConfig(method=method, backbone=backbone, epochs=epochs,
                                               full_ranking=False, device=device, **settings))
            rows.append({"backbone": backbone, "method": method,
                         "s_per_epoch": result.seconds_per_epoch,
                         "valid_auc": result.valid["auc"]})
    return pd.DataFrame(rows)


def epoch_times(data: Split, methods: Sequence[str] = METHODS,
                backbones: Sequence[str] = BACKBONES, epochs: int = 3,
                device: str | None = None, progress: bool = False) -> pd.DataFrame:
    """Seconds per training epoch (median of ``epochs``) for each method × backbone, and each
    method's ratio to NS on the same backbone."""
    table = _epoch_rows(data, methods, backbones, epochs, device,
                        lambda d, c: train(d, c, progress=progress))
    ns = table[table["method"] == "ns"].set_index("backbone")["s_per_epoch"]
    table["ratio_to_ns"] = table["s_per_epoch"] / table["backbone"].map(ns)
    return table


def static_epoch_times(data: Split, methods: Sequence[str] = METHODS,
                       backbones: Sequence[str] = BACKBONES, epochs: int = 3,
                       device: str | None = None) -> pd.DataFrame:
    """Seconds per epoch of :func:`invlearn.static.train_static` (CUDA graphs on CUDA) for the
    methods it supports; the first epoch (which captures the graphs) is in the median."""
    from .static import STATIC_METHODS, train_static

    return _epoch_rows(data, [m for m in methods if m in STATIC_METHODS], backbones, epochs,
                       device, train_static, optimizer="dense")


def one_core_epoch_times(data: Split, methods: Sequence[str] = METHODS,
                         backbones: Sequence[str] = BACKBONES, epochs: int = 3,
                         progress: bool = False) -> pd.DataFrame:
    """:func:`epoch_times` on the CPU with one intra-op thread (restored afterwards): the
    baseline a GPU time is compared with in the same run."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return epoch_times(data, methods, backbones, epochs, "cpu", progress)
    finally:
        torch.set_num_threads(threads)


def add_cpu_speedup(table: pd.DataFrame, cpu: pd.DataFrame) -> None:
    """Add ``cpu1_s_per_epoch`` (the same method × backbone on one CPU core) and
    ``speedup_vs_cpu1`` (that time over ``table``'s) to ``table``, in place; rows the CPU table
    lacks get NaN."""
    key = cpu.set_index(["backbone", "method"])["s_per_epoch"]
    index = pd.MultiIndex.from_frame(table[["backbone", "method"]])
    table["cpu1_s_per_epoch"] = key.reindex(index).to_numpy()
    table["speedup_vs_cpu1"] = table["cpu1_s_per_epoch"] / table["s_per_epoch"]


def yardstick_step_time(n_users: int, n_items: int, batch: int = 1024, steps: int = 200,
                        device: str | None = None, seed: int = 0) -> float:
    """Seconds of the yardstick step: a plain GMF (dense tables) BCE step with fused
    Adam on a random batch of ``batch`` rows, captured whole in one CUDA graph and replayed —
    about the fastest a step of this size can be on the device. CUDA only."""
    from .static import adam_step, capture, ensure_grads, init_adam_state, make_optimizer

    dev = pick_device(device)
    if dev.type != "cuda":
        raise InvlearnError("the yardstick is a CUDA graph: it needs a CUDA device")
    torch.manual_seed(seed)
    model = build_model("gmf", n_users, n_items, sparse=False).to(dev)
    opt = make_optimizer(model, 1e-3, dev)
    params = ensure_grads(model)
    init_adam_state(opt)
    users = torch.randint(0, n_users, (batch,), device=dev)
    items = torch.randint(0, n_items, (batch,), device=dev)
    labels = torch.randint(0, 2, (batch,), device=dev).float()

    def step() -> None:
        adam_step(model, opt, losses.bce(model(users, items), labels))

    state = params + [v for st in opt.state.values() for v in st.values() if torch.is_tensor(v)]
    graph = capture(step, state)
    for _ in range(10):
        graph.replay()
    sync(dev)
    start = time.perf_counter()
    for _ in range(steps):  # back to back, as an epoch replays them
        graph.replay()
    sync(dev)
    return (time.perf_counter() - start) / steps


def machine() -> dict:
    """Device name, torch version and thread settings, for the report."""
    dev_name = (torch.cuda.get_device_name() if torch.cuda.is_available()
                else platform.processor() or platform.machine())
    return {"device_name": dev_name, "torch": torch.__version__,
            "threads": torch.get_num_threads(), "interop_threads": torch.get_num_interop_threads()}


def evaluation_times(data: Split, backbone: str = "gmf", repeat: int = 3,
                     device: str | None = None) -> dict:
    """Seconds for the labeled-test metrics and for the full-ranking metrics of one model."""
    dev = pick_device(device)
    model = build_model(backbone, data.n_users, data.n_items).to(dev)
    return {
        "test_rows": len(data.test),
        "labeled_metrics_s": _median_time(lambda: evaluate(model, data.test, dev), repeat, dev),
        "full_ranking_s": _median_time(lambda: ranking_metrics(model, data, dev), repeat, dev),
        "users_x_items": f"{data.n_users} x {data.n_items}",
    }


def meta_step_time(n_items: int, n_users: int = 37_692, backbone: str = "gmf",
                   batch: int = 1024, steps: int = 100, device: str | None = None,
                   seed: int = 0, n_impressions: int = 300_000) -> float:
    """Median seconds of one IG meta-step — IDL gradient on an unlabeled batch, three
    candidate losses on a labeled batch, the choice, and the γ step — on a simulated feed of
    ``n_users`` users and ``n_items`` items (labeled batches from its training rows, unlabeled
    batches sampled as in training)."""
    from .simfeed import simulate_feed

    dev = pick_device(device)
    data = simulate_feed(n_users=n_users, n_items=n_items, n_impressions=n_impressions,
                         seed=seed).to_split(seed=seed)
    train_rows = data.train
    users = train_rows["user"].to_numpy(np.int64)
    items = train_rows["item"].to_numpy(np.int64)
    labels = train_rows["label"].to_numpy(np.float32)
    rng = np.random.default_rng(seed)
    unlabeled = sample_unlabeled(users, n_items, pair_keys(users, items, n_items), 1, rng)[:, 0]
    torch.manual_seed(seed)
    model = build_model(backbone, n_users, n_items).to(dev)
    opt = Adam(model, 1e-3)

    def batch_at(k: int) -> tuple[torch.Tensor, ...]:
        rows = rng.integers(0, len(users), size=2 * batch)
        lab, unl = rows[:batch], rows[batch:]
        return tuple(torch.as_tensor(a, device=dev) for a in
                     (users[unl], unlabeled[unl], users[lab], items[lab], labels[lab]))

    batches = [batch_at(k) for k in range(steps + 10)]

    def one(k: int) -> None:
        uu, ui, lu, li, y = batches[k]
        ig_meta_step(model, (uu, ui), (lu, li, y), 1e-4, "sign")
        opt.zero_grad()
        losses.bce(model(lu, li), y).backward()
        opt.step()

    for k in range(10):  # warm-up
        one(steps + k)
    order = iter(range(steps))
    return _median_time(lambda: one(next(order)), steps, dev)


def run_benchmark(data: Split, methods: Sequence[str] = METHODS,
                  backbones: Sequence[str] = BACKBONES, epochs: int = 3,
                  catalogues: Sequence[int] = (10_000, 131_690), device: str | None = None,
                  progress: bool = True, cpu_baseline: bool = True) -> dict:
    """Everything ``python -m invlearn bench`` prints, as a dict of tables and figures. On CUDA
    with ``cpu_baseline``, every method is also timed on one CPU core of the same machine, and
    each GPU time gets its speed-up over that core (issue 13's yardstick: ≥ 5×)."""
    dev = pick_device(device)
    out = {"device": str(dev), **machine(), "dataset": data.name,
           "train_rows": len(data.train)}
    out["epochs"] = epoch_times(data, methods, backbones, epochs, device, progress)
    if dev.type == "cuda":
        out["static_epochs"] = static_epoch_times(data, methods, backbones, epochs, device)
        step = yardstick_step_time(data.n_users, data.n_items, device=device)
        n_batches = -(-len(data.train) // 1024)
        out["yardstick"] = {"s_per_step": step, "batches": n_batches,
                            "s_per_epoch": step * n_batches}
        for table in (out["epochs"], out["static_epochs"]):
            table["ratio_to_yardstick"] = table["s_per_epoch"] / out["yardstick"]["s_per_epoch"]
        if cpu_baseline:
            cpu = one_core_epoch_times(data, methods, backbones, epochs, progress)
            out["cpu_threads"] = 1
            for table in (out["epochs"], out["static_epochs"]):
                add_cpu_speedup(table, cpu)
        out["static_epochs"] = out["static_epochs"].to_dict("records")  # JSON-ready as is
    out["evaluation"] = evaluation_times(data, device=device)
    out["meta_step"] = {n: meta_step_time(n, device=device) for n in catalogues}
    out["peak_memory_mb"] = peak_memory_mb()
    if dev.type == "cuda":
        out["peak_gpu_memory_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return out


def format_report(report: dict) -> str:
    """The benchmark as plain text tables."""
    lines = [(f"device {report['device']} ({report.get('device_name', '?')}), torch "
              f"{report.get('torch', '?')}, threads {report['threads']} (inter-op "
              f"{report.get('interop_threads', '?')}), {report['dataset']} "
              f"({report['train_rows']:,} training rows), batch 1024"), ""]
    table = report["epochs"].pivot(index="method", columns="backbone")
    table = table.reindex([m for m in METHODS if m in table.index])
    lines.append("seconds per epoch (median) and ratio to NS on the same backbone")
    columns = ["s_per_epoch", "ratio_to_ns"]
    for extra in ("ratio_to_yardstick", "speedup_vs_cpu1"):
        if extra in report["epochs"]:
            columns.append(extra)
    lines.append(table[columns].round(3).to_string())
    if "static_epochs" in report:
        stick = report["yardstick"]
        lines += ["", (f"yardstick: plain GMF BCE step in one CUDA graph "
                       f"{stick['s_per_step'] * 1e6:.0f} µs × {stick['batches']} batches = "
                       f"{stick['s_per_epoch']:.3f} s per epoch")]
        static = pd.DataFrame(report["static_epochs"]).pivot(index="method", columns="backbone")
        static = static.reindex([m for m in METHODS if m in static.index])
        lines.append("static step (train_static, CUDA graphs): seconds per epoch (median) and "
                     "ratio to the yardstick")
        static_columns = ["s_per_epoch", "ratio_to_yardstick"]
        if "speedup_vs_cpu1" in static:
            static_columns.append("speedup_vs_cpu1")
            lines[-1] += " and speed-up over one CPU core"
        lines.append(static[static_columns].round(3).to_string())
    ev = report["evaluation"]
    lines += ["", (f"evaluation of one GMF model: labeled-test metrics on {ev['test_rows']:,} rows "
              f"{ev['labeled_metrics_s']:.3f} s; full ranking over {ev['users_x_items']} "
              f"{ev['full_ranking_s']:.3f} s")]
    steps = report["meta_step"]
    lines.append("")
    lines.append("IG meta-step (GMF, batch 1024): " + ", ".join(
        f"{n:,} items {t * 1000:.2f} ms" for n, t in steps.items()))
    if len(steps) > 1:
        sizes = sorted(steps)
        ratio = steps[sizes[-1]] / steps[sizes[0]]
        lines.append(f"ratio largest / smallest catalogue: {ratio:.2f}")
    lines.append(f"peak memory {report['peak_memory_mb']:.0f} MiB")
    if "peak_gpu_memory_mb" in report:
        lines.append(f"peak GPU memory {report['peak_gpu_memory_mb']:.0f} MiB")
    return "\n".join(lines)
