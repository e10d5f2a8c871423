"""Write spec.json, the released-reading ablation on ML-1M's paper split (chapter 6b).

Cells: on GMF and NeuMF, None, NS, IDL and IG under our reading and under the released one,
and IG with its move off (alpha_ratio 0) under both; on GMF, IG with each switch flipped alone
from either reading, and None with each switch it reads flipped alone. Three seeds, the paper's
settings (lr 1e-4, alpha = 0.1 lr, batch 1024, sampling rate 1), ten epochs as in the released
code's own runs (released_code_runs.csv). Run: python make_spec.py > spec.json
"""
import itertools
import json

from invlearn.config import READING_PRESETS

SWITCHES = ("accumulate_grads", "meta_move", "meta_split", "select", "ig_supervised", "optimizer")
NONE_SWITCHES = ("accumulate_grads", "select", "optimizer")   # what None's loop reads
grid = {"backbone": ["gmf", "neumf"], "method": ["none", "ns", "idl", "ig"],
        "reading": ["ours", "released"], "alpha_ratio": [0.1, 0.0]}
for s in SWITCHES:
    grid[s] = [None] + sorted({READING_PRESETS[r][s] for r in READING_PRESETS}, key=str)
exclude = [{"method": m, "alpha_ratio": 0.0} for m in ("none", "ns", "idl")]
exclude += [{"alpha_ratio": 0.0, s: v} for s in SWITCHES for v in grid[s][1:]]
# a switch set is one flipped away from its reading, never set to what the reading says
exclude += [{"reading": r, s: READING_PRESETS[r][s]} for r in READING_PRESETS for s in SWITCHES]
# one switch at a time
for a, b in itertools.combinations(SWITCHES, 2):
    exclude += [{a: u, b: v} for u in grid[a][1:] for v in grid[b][1:]]
# switches only on GMF; NS and IDL only under the two readings; None only where its loop reads
for s in SWITCHES:
    exclude += [{"backbone": "neumf", s: v} for v in grid[s][1:]]
    exclude += [{"method": m, s: v} for m in ("ns", "idl") for v in grid[s][1:]]
    if s not in NONE_SWITCHES:
        exclude += [{"method": "none", s: v} for v in grid[s][1:]]
spec = {"base": {"dataset": "ml-1m-paper", "epochs": 10, "eval_every": 1, "lr": 0.0001,
                 "alpha_rule": "sgd", "meta_steps": "per-test-batch", "batch_size": 1024,
                 "sampling_rate": 1, "dim": 32, "threads": 1, "full_ranking": False},
        "grid": grid, "seeds": [1, 2, 3], "exclude": exclude}
print(json.dumps(spec, indent=1))
