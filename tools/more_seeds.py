"""Give ten seeds to the cells a regime map's verdict rests on (issue 19, SPEC §10).

Reads a finished regime study's ``results.csv``, draws both maps (chapter 9's
``regime.regime_maps``) for each metric, and writes the study's ``spec.json`` with the
``"more_seeds"`` entries of :func:`invlearn.chapters.regime.more_seeds_for`: IG (with its α = 0
twin) and its rival get the extra seeds in every cell whose verdict is not "no difference" on
any map. Rerunning ``python -m invlearn grid`` on the same folder then runs only the new seeds.

    python tools/more_seeds.py book/results/regime-sim --metrics auc auc_truth auc_truthset
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

from invlearn.chapters import regime
from invlearn.io import write_json_atomic


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("study", type=Path, help="a regime study's folder (spec.json, results.csv)")
    parser.add_argument("--metrics", nargs="+", default=["auc"], help="maps drawn on these metrics")
    parser.add_argument("--seeds", nargs="+", type=int, default=[6, 7, 8, 9, 10],
                        help="the extra final seeds (default: 6-10)")
    args = parser.parse_args()
    table = pd.read_csv(args.study / "results.csv")
    maps = {f"{metric}:{name}": frame for metric in args.metrics
            for name, frame in regime.regime_maps(table, metric=metric).items()}
    for key, frame in maps.items():
        print(key, frame["verdict"].value_counts().to_dict())
    spec_path = args.study / "spec.json"
    spec = json.loads(spec_path.read_text())
    spec["more_seeds"] = regime.more_seeds_for(maps, args.seeds)
    write_json_atomic(spec_path, spec)  # whole or not at all
    print(f"{spec_path}: {len(spec['more_seeds'])} more_seeds entries")


if __name__ == "__main__":
    main()
