"""tools/regime_annotation.py --merge: a repeat's annotation goes into the first run's record
only where the two test AUCs are equal to the last bit (chapter 9)."""
import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _tool():
    spec = importlib.util.spec_from_file_location("regime_annotation",
                                                  ROOT / "tools" / "regime_annotation.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _write(path, record):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record))


def test_merge_copies_annotation_only_where_test_auc_is_identical(tmp_path):
    first = {"auc": 0.71234, "method": "idl"}
    _write(tmp_path / "final" / "runs" / "same.json", first)
    _write(tmp_path / "final" / "runs" / "drift.json", {"auc": 0.5, "method": "ig"})
    again = {"auc": 0.71234, "annotation_accuracy": 0.8, "pool_positive_share": 0.84,
             "annotation_first": 0.7, "annotation_last": 0.81, "history": []}
    _write(tmp_path / "annotation" / "runs" / "same.json", again)
    _write(tmp_path / "annotation" / "runs" / "drift.json", {**again, "auc": 0.5000001})
    _write(tmp_path / "annotation" / "runs" / "orphan.json", again)

    assert _tool().merge(tmp_path) == (1, 2)
    merged = json.loads((tmp_path / "final" / "runs" / "same.json").read_text())
    assert merged["annotation_accuracy"] == 0.8 and merged["pool_positive_share"] == 0.84
    assert merged["annotation_from"] == "annotation/runs/same.json"
    assert merged["auc"] == 0.71234 and "history" not in merged
    untouched = json.loads((tmp_path / "final" / "runs" / "drift.json").read_text())
    assert "annotation_accuracy" not in untouched
