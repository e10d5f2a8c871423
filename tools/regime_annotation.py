"""Rerun a regime study's final IDL and IG runs on the ``hidden`` pool, recording annotation
accuracy against the withheld labels (issue 9; chapter 8).

The ML-1M regime study ran (on the lent GPU machine's 16 cores) before ``build_record`` scored
annotation on MovieLens's hidden pool, so its records lack ``annotation_accuracy``. This reruns
exactly those final cells (same parameters, same run ids) into ``<study>/annotation/``; the
chapter takes the annotation columns from there and checks that the test metrics agree with
the first run's.

    python tools/regime_annotation.py book/results/regime-ml1m --jobs 2
"""
import argparse
from pathlib import Path

import pandas as pd

from invlearn.cli import read_spec
from invlearn.experiments import _final_cells, run_grid


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("study", help="the study's folder (spec.json and chosen.csv in it)")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    out = Path(args.study)
    spec = read_spec(str(out / "spec.json"))
    chosen = pd.read_csv(out / "chosen.csv")
    group = [k for k in spec.grid if k not in spec.search_on]
    searched = sorted({k for s in spec.search.values() for k in s})
    present = [k for k in searched if k in chosen.columns]
    finals, _ = _final_cells(spec, chosen, group, present)
    cells = [c for c in finals if c.get("pool") == "hidden" and c["method"] in ("idl", "ig")]
    table = run_grid(cells, out / "annotation", args.jobs, "python", progress=False)
    print(f"{len(table)} annotation runs in {out / 'annotation'}")


if __name__ == "__main__":
    main()
