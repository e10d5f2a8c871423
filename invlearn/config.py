"""Every setting of one training run, documented once.

:class:`TrainConfig` is the single source of the settings: ``train(...)`` takes it, every field is
an option of ``python -m invlearn train`` whose help line is the field's ``help`` text below, and
grid specs name the same fields. :meth:`TrainConfig.check` rejects a bad value with an
:class:`~invlearn.errors.InvlearnError` that names the field.
"""
from __future__ import annotations

import dataclasses
import math
import numbers
from dataclasses import dataclass, field
from typing import Any

from .errors import InvlearnError

#: The eight methods of the paper's Tables 1 and 2, in the order the book's tables use.
METHODS = ("none", "ns", "tce", "rce", "dns", "srns", "idl", "ig")
#: Scores that learn nothing (chapter 9), an item's interaction count and its mean kept label.
#: ``train`` accepts them as methods; they train no model (:mod:`invlearn.scores`).
SCORES = ("popularity", "item_mean")
#: Every name ``train``'s ``method`` accepts: the eight methods, then the two scores.
ALL_METHODS = (*METHODS, *SCORES)
#: Each method's name in the book's tables.
METHOD_LABELS = {"none": "None", "ns": "NS", "tce": "T-CE", "rce": "R-CE", "dns": "DNS",
                 "srns": "SRNS*", "idl": "IDL", "ig": "IG", "popularity": "Popularity",
                 "item_mean": "Item mean"}
#: How IG applies its step size α to the IDL gradient g (chapter 5, "Two step rules for θ − α·g").
ALPHA_RULES = ("sgd", "sign")
#: The two readings of how many meta-steps IG takes per epoch, one per training-test batch
#: (the released code) or one per supervised batch (Algorithm 1's ``for t = 1 to T``); see
#: chapter 5.
META_STEPS = ("per-test-batch", "per-train-batch")
#: The items full ranking leaves out for a user, either the user's training items or the
#: training and validation items (what DenoisingRec's code does); see chapter 6.
RANKING_MASKS = ("train", "train+valid")
#: Where the unlabeled rows of IDL, IG and the negative-sampling family come from (chapter 9).
POOLS = ("random", "hidden", "ambiguous", "unlabeled")
SELECTIONS = ("auc", "loss")
#: How Adam updates the embedding tables, only the rows of the batch (lazy) or every row (dense).
OPTIMIZERS = ("lazy", "dense")
#: GMF, NeuMF and GMF with a global, a user and an item bias (chapter 9).
BACKBONES = ("gmf", "neumf", "gmf_bias")
#: Which reading of the paper a run follows by default, ours (Algorithm 1 as written) or the
#: authors' released loop (for IG with IDL in the supervised phase, the paper's Table 1 note;
#: chapter 7 calls it "script + IDL"); the switches below left at None follow it.
READINGS = ("ours", "released")
#: How IG's meta-step builds its candidates, from this step's IDL gradient with ``alpha_rule``
#: (Algorithm 1), or as the released code does (candidate gradients summed over the whole run,
#: each candidate one fresh-Adam step at α).
META_MOVES = ("algorithm", "released")
#: Which labeled training rows IG holds out as training-test data, a seeded random share, or
#: the last rows in file order (the released code).
META_SPLITS = ("random", "file-order")
#: The loss of IG's supervised phase, BCE on the labeled rows (Algorithm 1), or IDL with
#: unlabeled rows in the same batches (the paper's "IG includes the IDL method").
IG_SUPERVISED = ("bce", "idl")
#: The value each switch takes under each reading (a switch set explicitly wins).
READING_PRESETS: dict[str, dict[str, Any]] = {
    "ours": {"accumulate_grads": False, "meta_move": "algorithm", "meta_split": "random",
             "select": "auc", "ig_supervised": "bce", "optimizer": "lazy"},
    "released": {"accumulate_grads": True, "meta_move": "released", "meta_split": "file-order",
                 "select": "loss", "ig_supervised": "idl", "optimizer": "dense"},
}

#: The largest seed a run or a split takes (int64).
MAX_SEED = 2**63 - 1
_MAX_DIM = 4096


def _setting(default: Any, help: str, **limits: Any) -> Any:
    """A dataclass field whose ``metadata`` carries its help line and limits."""
    return field(default=default, metadata={"help": help, **limits})


@dataclass
class TrainConfig:
    """Every setting of one training run. ``lr`` is γ of Algorithm 1; IG's α is
    ``alpha_ratio · lr``. Defaults: chapter 6 explains how they were chosen on validation data.
    """

    method: str = _setting("ns", "training method (chapters 1–5), or a score that learns "
                           "nothing: popularity or item_mean (chapter 9)", choices=ALL_METHODS)
    backbone: str = _setting("gmf", "model: GMF, NeuMF (chapter 1) or gmf_bias, GMF with a "
                             "global, a user and an item bias (chapter 9)", choices=BACKBONES)
    epochs: int = _setting(10, "passes over the labeled training rows", minimum=1)
    batch_size: int = _setting(1024, "labeled rows per batch", minimum=1, maximum=1 << 24)
    lr: float = _setting(1e-3, "γ, Adam's learning rate (Algorithm 1)", positive=True)
    dim: int = _setting(32, "embedding size of the GMF branch (MLP branch: 4×)", minimum=1,
                        maximum=_MAX_DIM)
    sampling_rate: int = _setting(1, "unlabeled rows drawn per labeled row, redrawn every "
                                  "epoch", minimum=1, maximum=100)
    seed: int = _setting(0, "seed of every random choice of the run", minimum=0,
                         maximum=MAX_SEED)
    label_fraction: float = _setting(1.0, "share f of the labeled training rows kept, in "
                                     "(0, 1]; nested for one seed (chapter 9)", fraction=True)
    pool: str = _setting("random", "where unlabeled rows come from: random pairs, the "
                         "withheld labels (hidden), the simulator's ambiguous impressions "
                         "(chapter 9) or your own unlabeled interactions (unlabeled)",
                         choices=POOLS)
    true_labels: bool = _setting(False, "NS only, the oracle of chapter 1: each epoch's sampled "
                                 "rows carry their true labels instead of 0 (needs data with "
                                 "a truth, the simulated feed)")
    tce_eps_max: float = _setting(0.2, "T-CE: ε_max, the largest drop rate (Wang et al. "
                                  "eq. 4)", minimum=0.0, below=1.0)
    tce_eps_n: int = _setting(3000, "T-CE: ε_N, iterations to reach ε_max", minimum=1)
    rce_beta: float = _setting(0.2, "R-CE: β, the weight exponent (Wang et al. eq. 6)",
                               minimum=0.0)
    dns_k: int = _setting(8, "DNS / SRNS: candidates per row, the hardest is used",
                          minimum=1, maximum=1024)
    srns_memory: int = _setting(16, "SRNS: candidates kept in each user's memory", minimum=2,
                                maximum=1024)
    srns_history: int = _setting(5, "SRNS: epochs of scores kept per candidate", minimum=1,
                                 maximum=100)
    srns_std_weight: float = _setting(1.0, "SRNS: weight of the score's std in the "
                                      "choice", minimum=0.0)
    alpha_ratio: float = _setting(0.1, "IG: α / γ, the meta-step's size relative to lr "
                                  "(Algorithm 1; 0 switches the move off)", minimum=0.0)
    alpha_rule: str = _setting("sign", "IG: how α meets g: sgd (α·g) or sign (one fresh Adam "
                               "step, ≈ α·sign(g))", choices=ALPHA_RULES)
    meta_steps: str = _setting("per-test-batch", "IG: meta-steps per epoch: one per "
                               "training-test batch, or one per supervised batch",
                               choices=META_STEPS)
    meta_fraction: float = _setting(0.1, "IG: share of labeled training rows held out as "
                                    "training-test data", minimum=0.0, below=1.0,
                                    positive=True)
    eval_every: int = _setting(1, "epochs between validations (model selection and patience "
                               "count validations); with label_fraction f, epochs ≈ E / f and "
                               "eval_every ≈ 1 / f give equal optimizer steps (chapter 9)",
                               minimum=1)
    equal_steps: bool = _setting(False, "with label_fraction f < 1, train ⌈epochs / f⌉ epochs "
                                 "and validate every ⌈eval_every / f⌉, so every fraction gets the "
                                 "same optimizer steps and validations (chapter 9)")
    reading: str = _setting("ours", "preset of the switches left unset: ours (Algorithm 1 as "
                            "written) or released (the authors' released loop; for IG also "
                            "IDL in the supervised phase, the paper's Table 1 note, so the "
                            "script itself is released with ig_supervised bce; chapter 7)", choices=READINGS)
    select: str | None = _setting(None, "validation metric choosing the epoch tested: auc or "
                                  "loss (BCE); unset: as reading says (auc / loss)",
                                  choices=SELECTIONS)
    accumulate_grads: bool | None = _setting(None, "never zero the gradients of the supervised "
                                             "steps within an epoch: each Adam step uses the "
                                             "running sum of the epoch's gradients; unset: as "
                                             "reading says (off / on)", boolean=True)
    meta_move: str | None = _setting(None, "IG: candidates from this step's IDL gradient with "
                                     "alpha_rule (algorithm), or the released code's (candidate "
                                     "gradients summed over the run, each move one fresh-Adam "
                                     "step at α, the γ step after it too); unset: as reading "
                                     "says", choices=META_MOVES)
    meta_split: str | None = _setting(None, "IG: training-test rows are a seeded random share "
                                      "(random) or the last rows in file order (file-order); "
                                      "unset: as reading says", choices=META_SPLITS)
    ig_supervised: str | None = _setting(None, "IG: loss of the supervised phase, bce or idl "
                                         "(with sampling_rate unlabeled rows per labeled row); "
                                         "unset: as reading says", choices=IG_SUPERVISED)
    patience: int | None = _setting(None, "stop after this many epochs without a better "
                                    "validation score (default: never)", minimum=1)
    full_ranking: bool = _setting(True, "also compute full-ranking Recall@K / NDCG@K")
    ranking_mask: str = _setting("train", "items left out of a user's full ranking: train, "
                                 "or train+valid (DenoisingRec's code)", choices=RANKING_MASKS)
    step: str = _setting("eager", "training engine: eager (every method, both optimizers) or "
                         "static (dense tables, fused Adam, CUDA graphs; none / ns / ig with the "
                         "random pool, dense Adam only; opt-in: its CUDA tests have not passed "
                         "on a GPU yet); auto is eager", choices=("eager", "static", "auto"))
    optimizer: str | None = _setting(None, "Adam's reading for embedding tables: lazy (only "
                                     "the rows a batch used move, as torch's SparseAdam) or "
                                     "dense (torch's Adam over every row: unused rows keep "
                                     "moving by momentum); unset: as reading says (lazy / "
                                     "dense)", choices=OPTIMIZERS)
    device: str | None = _setting(None, "torch device, e.g. cpu or cuda (default: cuda when "
                                  "available)")
    threads: int | None = _setting(None, "torch intra-op threads (default: torch's own)",
                                   minimum=1, maximum=1024)
    record_rows: int = _setting(50_000, "rows of IDL weights / T-CE drops kept per epoch in the "
                                "history", minimum=1)

    def check(self) -> TrainConfig:
        """Raise :class:`~invlearn.errors.InvlearnError` naming the first field that is out of
        range or of the wrong type; return the config."""
        for f in dataclasses.fields(self):
            _check_field(f, getattr(self, f.name))
        if self.device is not None:
            check_device(self.device)
        optimizer = self.optimizer or READING_PRESETS[self.reading]["optimizer"]
        if self.step == "static" and optimizer != "dense":
            raise InvlearnError("step static has dense Adam only (every row moves at every "
                                f"step), got optimizer {optimizer!r}: set optimizer dense, "
                                "or use step eager for lazy Adam")
        if self.true_labels and (self.method != "ns" or self.step == "static"):
            raise InvlearnError("true_labels is the oracle of negative sampling: method ns with "
                                f"step eager or auto, got method {self.method!r}, step "
                                f"{self.step!r}")
        _check_epoch_budget(self)
        return self

    def resolved(self) -> TrainConfig:
        """This config with every switch left at None set as its ``reading`` says
        (:data:`READING_PRESETS`; chapter 7). Explicit switches win, so ``reading="released",
        accumulate_grads=False`` is the released reading with one switch off."""
        preset = READING_PRESETS[self.reading]
        names = {f.name for f in dataclasses.fields(self)}
        fill = {k: v for k, v in preset.items() if k in names and getattr(self, k) is None
                and v is not None}
        return dataclasses.replace(self, **fill) if fill else self

    @classmethod
    def from_dict(cls, settings: dict[str, Any]) -> TrainConfig:
        """A checked config from a mapping of field names; unknown names are an error."""
        if not isinstance(settings, dict):
            raise InvlearnError(f"settings must be a dict of TrainConfig fields, got "
                                f"{type(settings).__name__}")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(settings) - names)
        if unknown:
            raise InvlearnError(f"unknown setting(s) {', '.join(map(repr, unknown))}: "
                                f"TrainConfig has {', '.join(sorted(names))}")
        return cls(**settings).check()


#: The switches only the eager engine (:func:`invlearn.methods.train`) implements.
EAGER_ONLY_SWITCHES = ("accumulate_grads", "meta_move", "meta_split", "ig_supervised")


def eager_only_switches(config: TrainConfig) -> list[str]:
    """The switches of a resolved ``config`` that differ from our reading and that only the
    eager engine implements."""
    ours = READING_PRESETS["ours"]
    return [k for k in EAGER_ONLY_SWITCHES if getattr(config, k) != ours[k]]


def field_help(name: str) -> str:
    """The help line of a :class:`TrainConfig` field, with its default (for ``--help``)."""
    f = {f.name: f for f in dataclasses.fields(TrainConfig)}[name]
    return f"{f.metadata['help']} (default: {f.default})"


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _check_field(f: dataclasses.Field, value: Any) -> None:
    """One field against its type and the limits in its metadata."""
    meta, name = f.metadata, f.name
    if value is None and f.default is None:
        return
    if "choices" in meta:
        if value not in meta["choices"]:
            raise InvlearnError(f"{name} must be one of {', '.join(meta['choices'])}, "
                                f"got {value!r}")
        return
    if isinstance(f.default, bool) or meta.get("boolean"):
        if not isinstance(value, bool):
            raise InvlearnError(f"{name} must be True or False, got {value!r}")
        return
    if name == "device":
        if not isinstance(value, str):
            raise InvlearnError(f"device must be a string such as 'cpu' or 'cuda', "
                                f"got {value!r}")
        return
    integer = _is_int(f.default) or f.default is None
    if integer and not _is_int(value):
        raise InvlearnError(f"{name} must be an integer, got {value!r}")
    if not integer and not _is_real(value):
        raise InvlearnError(f"{name} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise InvlearnError(f"{name} must be finite, got {value!r}")
    _check_range(name, value, meta)


def _check_range(name: str, value: float, meta: dict) -> None:
    if meta.get("fraction") and not 0 < value <= 1:
        raise InvlearnError(f"{name} must lie in (0, 1], got {value!r}")
    if meta.get("positive") and not value > 0:
        raise InvlearnError(f"{name} must be positive, got {value!r}")
    if "minimum" in meta and value < meta["minimum"]:
        raise InvlearnError(f"{name} must be at least {meta['minimum']}, got {value!r}")
    if "maximum" in meta and value > meta["maximum"]:
        raise InvlearnError(f"{name} must be at most {meta['maximum']}, got {value!r}")
    if "below" in meta and not value < meta["below"]:
        raise InvlearnError(f"{name} must be below {meta['below']}, got {value!r}")


#: The most epochs ``equal_steps`` may imply (⌈epochs / label_fraction⌉).
MAX_EPOCHS = 1_000_000


def _check_epoch_budget(config: TrainConfig) -> None:
    """With ``equal_steps`` at ``label_fraction`` f < 1, ⌈epochs / f⌉ and ⌈eval_every / f⌉
    must stay at most :data:`MAX_EPOCHS`."""
    if not config.equal_steps or config.label_fraction >= 1:
        return
    for name in ("epochs", "eval_every"):
        implied = getattr(config, name) / config.label_fraction
        if not implied <= MAX_EPOCHS:  # also catches inf
            raise InvlearnError(f"equal_steps at label_fraction {config.label_fraction!r} "
                                f"means {name} / label_fraction = {implied:.3g}, over "
                                f"{MAX_EPOCHS}; raise label_fraction or drop equal_steps")


#: The settings that only some methods read, with those methods; given to another method
#: they would change nothing, so the command line says so.
METHOD_SETTINGS: dict[str, tuple[str, ...]] = {
    "tce_eps_max": ("tce",), "tce_eps_n": ("tce",), "rce_beta": ("rce",),
    "dns_k": ("dns", "srns"), "srns_memory": ("srns",), "srns_history": ("srns",),
    "srns_std_weight": ("srns",), "alpha_ratio": ("ig",), "alpha_rule": ("ig",),
    "meta_steps": ("ig",), "meta_fraction": ("ig",), "record_rows": ("tce", "idl", "ig"),
    "sampling_rate": ("ns", "tce", "rce", "idl", "ig"),
    "pool": tuple(m for m in METHODS if m != "none"),
}


def ignored_settings(config: TrainConfig, given: Any) -> dict[str, str]:
    """Of the setting names ``given``, those ``config``'s run would not read, each with the
    reason: a setting of other methods (:data:`METHOD_SETTINGS`), ``ranking_mask`` without
    full ranking, ``equal_steps`` at label fraction 1."""
    why = {}
    for name in given:
        readers = METHOD_SETTINGS.get(name)
        if readers is not None and config.method not in readers:
            why[name] = f"only {', '.join(readers)} read it, not {config.method}"
    if "ranking_mask" in given and not config.full_ranking:
        why["ranking_mask"] = "it applies only with full ranking"
    if "equal_steps" in given and config.equal_steps and config.label_fraction >= 1:
        why["equal_steps"] = "at label_fraction 1 it changes nothing"
    return why


def check_device(device: str) -> None:
    """Raise :class:`~invlearn.errors.InvlearnError` unless torch knows ``device`` and this
    machine has it."""
    import torch

    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise InvlearnError(f"device {device!r} is not a torch device (e.g. 'cpu', 'cuda', "
                            f"'cuda:0')") from err
    if dev.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if (dev.index or 0) >= count:
            raise InvlearnError(f"device {device!r} is not available: this machine has "
                                f"{count} CUDA device(s)")
    elif dev.type == "mps":
        if not torch.backends.mps.is_available():
            raise InvlearnError(f"device {device!r} is not available: this machine has no "
                                f"Apple GPU (MPS); use 'cpu' or 'cuda'")
    elif dev.type != "cpu":
        raise InvlearnError(f"device {device!r} is not supported: use 'cpu' or 'cuda'")


def _field_docs() -> str:
    """The fields of :class:`TrainConfig` with their help lines, for its docstring."""
    lines = ["", "", "    Fields (name: help (default)):", ""]
    for f in dataclasses.fields(TrainConfig):
        lines.append(f"    * ``{f.name}``: {field_help(f.name)}")
    return "\n".join(lines) + "\n"


TrainConfig.__doc__ = (TrainConfig.__doc__ or "").rstrip() + _field_docs()
