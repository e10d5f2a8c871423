"""Rerun a regime study's final IDL and IG runs on the ``hidden`` pool, recording annotation
accuracy against the withheld labels (issue 9; chapter 9).

The ML-1M regime study ran (on the lent GPU machine's 16 cores) before ``build_record`` scored
annotation on MovieLens's hidden pool, so its records lack ``annotation_accuracy``. This reruns
exactly those final cells (same parameters, same run ids) into ``<study>/annotation/``; the
chapter takes the annotation columns from there and checks that the test metrics agree with
the first run's. ``--merge`` then copies the annotation fields of each repeat into the final
record with the same run id, with ``annotation_from`` naming the repeat, but only where the
repeat's test AUC equals the first run's to the last bit; rerunning the study's grid command
afterwards (every run is recorded, so it only rewrites the tables) puts them in ``results.csv``.

    python tools/regime_annotation.py book/results/regime1-ml1m --jobs 2
    python tools/regime_annotation.py book/results/regime1-ml1m --merge
    python -m invlearn grid --spec book/results/regime1-ml1m/spec.json --out book/results/regime1-ml1m --jobs 2 --engine python
"""
import argparse
from pathlib import Path

import pandas as pd

from invlearn.cli import read_spec
from invlearn.grid import run_grid
from invlearn.io import read_json_record, write_json_atomic
from invlearn.study import _final_cells

FIELDS = ("annotation_first", "annotation_last", "annotation_accuracy", "pool_positive_share")


def merge(study: Path) -> tuple[int, int]:
    """Copy each repeat's annotation fields into the final record of the same run id when the
    two test AUCs are equal; return (merged, refused)."""
    merged = refused = 0
    for path in sorted((study / "annotation" / "runs").glob("*.json")):
        again, first_path = read_json_record(path), study / "final" / "runs" / path.name
        first = read_json_record(first_path)
        if again is None or first is None or again.get("auc") != first.get("auc"):
            refused += 1
            continue
        first.update({k: again[k] for k in FIELDS if k in again})
        first["annotation_from"] = f"annotation/runs/{path.name}"
        write_json_atomic(first_path, first)
        merged += 1
    return merged, refused


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("study", help="the study's folder (spec.json and chosen.csv in it)")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--merge", action="store_true",
                        help="copy the repeats' annotation into the final records, run nothing")
    args = parser.parse_args()
    out = Path(args.study)
    if args.merge:
        merged, refused = merge(out)
        print(f"annotation merged into {merged} final records; {refused} refused (test AUC differs "
              f"or a record is missing)")
        return
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
