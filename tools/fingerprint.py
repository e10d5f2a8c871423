"""Fingerprint of the trainers: every method x backbone on the toy simulated feed, fixed seeds,
a few epochs, one thread, every metric written with its full float repr.

A refactoring that must not change behaviour keeps the fingerprint bit-identical:

    python tools/fingerprint.py --out tools/fingerprint.json    # before the change
    python tools/fingerprint.py --check tools/fingerprint.json  # after: exit 1 on any difference

Runs on the CPU (the eager engine, and the static engine run eagerly) in seconds on one core.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np
import torch

#: (name, method, extra settings): every method, and IG with its move switched off.
CASES = [(m, m, {}) for m in ("none", "ns", "tce", "rce", "dns", "srns", "idl", "ig")]
CASES.append(("ig-alpha0", "ig", {"alpha_ratio": 0.0}))
#: The static-shape engine, run eagerly on the CPU, for the methods it supports.
CASES += [(f"{m}-static", m, {"step": "static", "optimizer": "dense"})
          for m in ("none", "ns", "ig")]
#: Half the labels: with the hidden pool on the eager engine, with random pairs on the static one
#: (a label fraction applied twice shows here); and the two scores that learn nothing.
HALF = {"label_fraction": 0.5}
CASES += [("idl-half", "idl", {**HALF, "pool": "hidden"}),
          ("ig-half", "ig", {**HALF, "pool": "hidden"}),
          ("ig-half-static", "ig", {**HALF, "step": "static", "optimizer": "dense"})]
CASES += [(m, m, {}) for m in ("popularity", "item_mean")]
BACKBONES = ("gmf", "gmf_bias", "neumf")
SETTINGS = {"epochs": 4, "lr": 0.01, "batch_size": 128, "dim": 8, "seed": 7, "tce_eps_n": 20,
            "device": "cpu", "threads": 1, "sampling_rate": 2}
#: Result keys that measure time or memory, not behaviour.
TIMING = ("seconds",)


def _plain(value):
    """``value`` as JSON with floats kept exactly (repr round-trips a float64)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()
                if not any(str(k).startswith(t) for t in TIMING)}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, np.generic):
        return _plain(value.item())
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    return value


def fingerprint() -> dict:
    """Name ``method-backbone`` → the run's record: test and validation metrics, best epoch,
    per-epoch losses and validation metrics, IG's meta-step summary and records, the recorded
    IDL weights' mean and the annotation accuracy against the feed's truth."""
    from invlearn import simfeed
    from invlearn.methods import train

    torch.set_num_threads(1)
    feed = simfeed.simulate_feed("toy", seed=0)
    data = feed.to_split(seed=0)
    out = {}
    for backbone in BACKBONES:
        for name, method, extra in CASES:
            result = train(data, method=method, backbone=backbone, progress=False,
                           **SETTINGS, **extra)
            record = result.to_dict(histories=True)
            record.pop("params", None)
            if result.history.weights:
                record["annotation"] = result.history.annotation_accuracy(feed).to_dict()
            if result.history.dropped:
                record["dropped"] = {e: int(r["count"])
                                     for e, r in result.history.dropped.items()}
            out[f"{name}-{backbone}"] = _plain(record)
    return out


def differences(old: dict, new: dict, where: str = "") -> list[str]:
    """Every path at which two fingerprints differ (values compared exactly)."""
    if isinstance(old, dict) and isinstance(new, dict):
        diffs = []
        for key in sorted(set(old) | set(new)):
            if key not in old or key not in new:
                diffs.append(f"{where}/{key}: only in {'new' if key in new else 'saved'}")
            else:
                diffs += differences(old[key], new[key], f"{where}/{key}")
        return diffs
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        return [d for i, (a, b) in enumerate(zip(old, new))
                for d in differences(a, b, f"{where}[{i}]")]
    return [] if old == new and type(old) is type(new) else [f"{where}: {old!r} -> {new!r}"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="write the fingerprint (JSON) here")
    parser.add_argument("--check", help="compare with a saved fingerprint; exit 1 on any "
                        "difference")
    args = parser.parse_args(argv)
    current = json.loads(json.dumps(fingerprint()))  # the types a saved file reads back as
    text = json.dumps(current, indent=1, sort_keys=True)
    if args.out:
        tmp = Path(args.out + ".tmp")
        tmp.write_text(text + "\n")
        tmp.replace(args.out)
    if args.check:
        diffs = differences(json.loads(Path(args.check).read_text()), current)
        for line in diffs[:40]:
            print(line)
        print(f"fingerprint: {len(current)} runs, "
              f"{'identical' if not diffs else f'{len(diffs)} difference(s)'}")
        return 1 if diffs else 0
    if not args.out:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
