"""Chapter 3 (the Inverse Dual Loss) runs end to end at toy size and records sane numbers."""
from conftest import run_chapter


def test_chapter_03_runs_at_toy_size(tmp_path):
    numbers = run_chapter("03_idl", tmp_path, SIZE="toy", EPOCHS=2, SEEDS=[0, 1], N_BINS=3)
    shares = ("annotation_accuracy_first", "annotation_accuracy_last", "all_negative_accuracy",
              "annotated_positive_first", "annotated_positive_last", "mean_w1_first",
              "mean_w1_last", "accuracy_hardest_bin", "accuracy_easiest_bin", "idl_recall_last")
    for key in shares:
        assert 0.0 <= numbers[key] <= 1.0, key
    # annotation accuracy and the 'all negative' baseline are measured on the same first-epoch
    # pairs: they agree exactly when IDL calls none of them positive
    if numbers["annotated_positive_first"] == 0.0:
        assert numbers["annotation_accuracy_first"] == numbers["all_negative_accuracy"]
    # the IDL gradient pushes hardest a little away from the boundary, |s| near 0.84
    assert abs(numbers["idl_gradient_peak_logit"] - 0.84) < 0.02
    for method in ("idl", "ns", "none"):
        assert 0.0 <= numbers[f"auc_{method}"] <= 1.0
    assert numbers["auc_idl_std"] >= 0.0 and numbers["n_seeds"] == 2 and numbers["epochs"] == 2
