"""The switches of the released code's reading, each on a tiny input (chapter 6)."""
import dataclasses

import numpy as np
import pytest
import torch

from invlearn import InvlearnError, losses, train
from invlearn.cli import main
from invlearn.config import READING_PRESETS, TrainConfig
from invlearn.ig import CandidateGrads, ig_epoch, released_meta_step
from invlearn.methods import METHOD_TABLE, Run, bce_loss, ig_setup, no_rows, supervised_pass
from invlearn.models import GMF
from invlearn.static import train_static
from invlearn.training import merge_config

SWITCHES = ("accumulate_grads", "meta_move", "meta_split", "select", "ig_supervised")


def _run(split, **settings) -> Run:
    cfg = merge_config(None, {"device": "cpu", "threads": 1, **settings})
    return Run(split, cfg, None)


def _dense(grad):
    return grad.to_dense() if grad.is_sparse else grad.clone()


def _grads(model, loss, keep=False):
    params = [p for p in model.parameters() if p.requires_grad]
    return [_dense(g) for g in torch.autograd.grad(loss, params, retain_graph=keep)]


class _Recorder:
    """Stands in for ``opt.step``: keeps a dense copy of every gradient, moves nothing."""

    def __init__(self, run):
        self.run, self.seen = run, []

    def __call__(self):
        self.seen.append([_dense(p.grad) for p in self.run.opt.params])


def _close(a, b):
    return all(torch.allclose(x, y, atol=1e-7, rtol=1e-5) for x, y in zip(a, b))


# -- the preset ------------------------------------------------------------------------------
def test_our_reading_resolves_to_todays_settings_and_released_turns_every_switch_on():
    ours = TrainConfig().resolved()
    assert (ours.select, ours.accumulate_grads, ours.meta_move, ours.meta_split,
            ours.ig_supervised) == ("auc", False, "algorithm", "random", "bce")
    released = TrainConfig(reading="released").resolved()
    assert {k: getattr(released, k) for k in SWITCHES} == {
        k: READING_PRESETS["released"][k] for k in SWITCHES}
    assert released.accumulate_grads is True and released.select == "loss"


def test_an_explicit_switch_wins_over_the_reading():
    off = TrainConfig(reading="released", accumulate_grads=False).resolved()
    assert off.accumulate_grads is False and off.meta_move == "released"
    on = TrainConfig(meta_split="file-order").resolved()
    assert on.meta_split == "file-order" and on.meta_move == "algorithm"
    assert merge_config(None, {"reading": "released", "select": "auc"}).select == "auc"


@pytest.mark.parametrize("name,value", [("accumulate_grads", "yes"), ("accumulate_grads", 1),
                                        ("meta_move", "adam"), ("meta_split", "tail"),
                                        ("ig_supervised", "mse"), ("reading", "authors")])
def test_bad_switch_values_are_one_clear_error(name, value):
    with pytest.raises(InvlearnError, match=name):
        TrainConfig(**{name: value}).check()


def test_cli_sets_the_switches(tmp_path, capsys):
    out = tmp_path / "run.json"
    code = main(["train", "--dataset", "sim", "--sim-size", "toy", "--method", "none",
                 "--epochs", "1", "--threads", "1", "--no-full-ranking", "--quiet",
                 "--reading", "released", "--no-accumulate-grads", "--out", str(out)])
    assert code == 0
    import json

    params = json.loads(out.read_text())["params"]
    assert params["reading"] == "released" and params["accumulate_grads"] is False
    assert params["select"] == "loss" and params["meta_split"] == "file-order"
    assert main(["train", "--meta-split", "tail", "--quiet"]) == 2
    assert "meta-split" in capsys.readouterr().err


def test_the_static_engine_refuses_the_eager_only_switches(toy_split):
    with pytest.raises(InvlearnError, match="accumulate_grads"):
        train_static(toy_split, method="none", accumulate_grads=True, epochs=1, device="cpu",
                     optimizer="dense")


# -- accumulate_grads ------------------------------------------------------------------------
def test_accumulated_second_step_uses_the_sum_of_both_batches_gradients(toy_split):
    for accumulate in (False, True):
        run = _run(toy_split, method="none", accumulate_grads=accumulate)
        run.opt.step = rec = _Recorder(run)
        batches = [torch.arange(0, 8), torch.arange(8, 20)]
        losses_ = [losses.bce(run.model(run.users[b], run.items[b]), run.labels[b])
                   for b in batches]
        g1, g2 = (_grads(run.model, loss, keep=True) for loss in losses_)
        for loss in losses_:
            run.step(loss, accumulate)
        assert _close(rec.seen[0], g1)
        want = [a + b for a, b in zip(g1, g2)] if accumulate else g2
        assert _close(rec.seen[1], want)
        assert not _close(rec.seen[1], g2 if accumulate else [a + b for a, b in zip(g1, g2)])


def test_accumulation_spans_one_epoch_and_restarts_at_the_next(toy_split):
    run = _run(toy_split, method="none", accumulate_grads=True, batch_size=120)
    assert len(run.users) == 360  # three batches of 120: the batch means sum to total / 120
    run.opt.step = rec = _Recorder(run)
    whole = _grads(run.model, torch.nn.functional.binary_cross_entropy_with_logits(
        run.model(run.users, run.items), run.labels, reduction="sum") / 120)
    for _ in range(2):  # the parameters never move: every pass ends on the same sum
        supervised_pass(run, bce_loss, no_rows(run))
        assert _close(rec.seen[-1], whole)
    assert len(rec.seen) == 6


# -- meta_split ------------------------------------------------------------------------------
def test_file_order_split_holds_out_the_last_tenth_of_the_rows(toy_split):
    run = _run(toy_split, method="ig", meta_split="file-order")
    ig_setup(run)
    assert run.meta_rows.tolist() == list(range(324, 360))
    assert run.fit_rows.tolist() == list(range(324))
    rand = _run(toy_split, method="ig")
    ig_setup(rand)
    assert len(rand.meta_rows) == 36 and rand.meta_rows.tolist() != list(range(324, 360))
    assert sorted(rand.meta_rows.tolist() + rand.fit_rows.tolist()) == list(range(360))


# -- ig_supervised ---------------------------------------------------------------------------
@pytest.mark.parametrize("phase,unlabeled", [("bce", 0), ("idl", 2)])
def test_ig_supervised_phase_trains_with_the_named_loss(toy_split, monkeypatch, phase,
                                                        unlabeled):
    seen = []

    def spy(run, batch, logits):
        seen.append((batch.n_labeled, len(batch.users), batch.users[:batch.n_labeled]))
        return base.loss(run, batch, logits)
    name = "idl" if phase == "idl" else "none"
    base = METHOD_TABLE[name]
    monkeypatch.setitem(METHOD_TABLE, name, dataclasses.replace(base, loss=spy))
    run = _run(toy_split, method="ig", ig_supervised=phase, sampling_rate=2, batch_size=64)
    ig_setup(run)
    ig_epoch(run, 1)
    assert len(seen) == int(np.ceil(len(run.fit_rows) / 64))  # only the supervised batches
    assert all(total == n * (1 + unlabeled) for n, total, _ in seen)
    assert sum(n for n, _, _ in seen) == len(run.fit_rows)


# -- meta_move="released" --------------------------------------------------------------------
def _meta_run(split, alpha_ratio):
    return _run(split, method="ig", meta_move="released", alpha_ratio=alpha_ratio, lr=0.01)


def test_released_candidate_gradients_accumulate_across_steps(toy_split):
    run = _meta_run(toy_split, 0.0)  # no move: every step passes
    unlabeled = (torch.tensor([0, 1, 2]), torch.tensor([5, 6, 7]))
    labeled = (torch.tensor([3, 4]), torch.tensor([8, 9]), torch.tensor([1.0, 0.0]))
    total = None
    for _ in range(3):
        g = _grads(run.model, losses.inverse_dual_loss(run.model(*unlabeled)))
        total = g if total is None else [a + b for a, b in zip(total, g)]
        first_opt = run.opt
        step = released_meta_step(run, unlabeled, labeled, 0.0)
        assert int(step.kept) == 1  # a tie: pass
        assert run.opt is not first_opt and run.opt.steps == 0  # a fresh Adam after each step
    sums = run.state["candidate_grads"]
    assert isinstance(sums, CandidateGrads)
    assert _close(sums.direct, total)
    assert _close(sums.inverse, [-t for t in total])


def test_released_candidate_is_one_fresh_adam_step_on_the_running_sum(toy_split):
    run = _meta_run(toy_split, 0.5)
    labeled = (torch.tensor([3, 4]), torch.tensor([8, 9]), torch.tensor([1.0, 0.0]))
    released_meta_step(run, (torch.tensor([0, 0]), torch.tensor([5, 6])), labeled, 0.005)
    sums = run.state["candidate_grads"]
    unlabeled = (torch.tensor([1, 1]), torch.tensor([7, 10]))  # user 0 not in this batch
    g = _grads(run.model, losses.inverse_dual_loss(run.model(*unlabeled)))
    running = [s + x for s, x in zip(sums.direct, g)]
    copy = GMF(toy_split.n_users, toy_split.n_items, 32, sparse=False)
    copy.load_state_dict(run.model.state_dict())
    adam = torch.optim.Adam(copy.parameters(), lr=0.005)  # fresh, as the released code makes
    for p, s in zip(copy.parameters(), running):
        p.grad = s.clone()
    adam.step()
    with torch.no_grad():
        want = losses.bce(copy(*labeled[:2]).double(), labeled[2].double())
    moved_user0 = not torch.equal(copy.user.weight[0], run.model.user.weight[0])
    step = released_meta_step(run, unlabeled, labeled, 0.005)
    assert float(step.losses[0]) == pytest.approx(float(want), rel=1e-6)
    assert moved_user0  # a row the first step touched moves again
    assert int(step.changed) > 0


def test_released_reading_trains_ig_and_none(toy_split):
    for method in ("ig", "none"):
        result = train(toy_split, method=method, reading="released", epochs=2, threads=1,
                       device="cpu", full_ranking=False, progress=False)
        assert result.config.accumulate_grads and result.config.select == "loss"
        assert 0.0 <= result.metrics["auc"] <= 1.0
    assert result.history.meta is None


# -- the ablation's spec ---------------------------------------------------------------------
def test_the_ablation_spec_holds_both_readings_and_each_switch_flipped_alone():
    import json
    import subprocess
    import sys
    from pathlib import Path

    from invlearn.study import check_spec, parse_spec, search_cells, study_cells

    folder = Path(__file__).resolve().parents[2] / "book/results/released"
    raw = json.loads((folder / "spec.json").read_text())
    made = subprocess.run([sys.executable, str(folder / "make_spec.py")], capture_output=True,
                          text=True, check=True).stdout
    assert json.loads(made) == raw  # the committed spec is what make_spec.py writes
    spec = parse_spec(raw)
    check_spec(spec)
    assert search_cells(spec) == [] and spec.seeds == [1, 2, 3]  # paper's settings, no search
    cells = study_cells(spec)
    variants = {}
    for cell in cells:
        set_ = tuple(k for k in SWITCHES if cell[k] is not None)
        assert len(set_) <= 1  # (a), (b), or one switch flipped from its reading
        if set_:
            preset = READING_PRESETS[cell["reading"]]
            assert cell[set_[0]] != preset[set_[0]]  # never a no-op
            assert cell["alpha_ratio"] == 0.1
        off = ("α=0",) if cell["alpha_ratio"] == 0 else ()
        variants.setdefault((cell["backbone"], cell["method"]), set()).add(
            (cell["reading"], *set_, *off))
    readings = {("ours",), ("released",)}
    ig_off = {("ours", "α=0"), ("released", "α=0")}
    flipped = {(r, s) for r in ("ours", "released") for s in SWITCHES}
    assert variants[("gmf", "ig")] == readings | ig_off | flipped
    assert variants[("neumf", "ig")] == readings | ig_off
    assert variants[("gmf", "none")] == readings | {
        (r, s) for r, s in flipped if s in ("accumulate_grads", "select", "optimizer")}
    for backbone, method in (("neumf", "none"), ("gmf", "ns"), ("neumf", "ns"), ("gmf", "idl"),
                             ("neumf", "idl")):
        assert variants[(backbone, method)] == readings
    assert len(cells) == 38
