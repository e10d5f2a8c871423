"""invlearn: inverse learning (IDL and IG) for recommendation with extremely sparse feedback.

A small package behind the invlearn book. Chapter by chapter:

* :mod:`invlearn.data` and :mod:`invlearn.simfeed` — MovieLens and the simulated passive feed (1);
* :mod:`invlearn.losses` — BCE, T-CE, R-CE (2) and the Inverse Dual Loss (3);
* :mod:`invlearn.methods` — the eight methods and ``train`` (1–3, 5), IG's meta-step (4–5);
* :mod:`invlearn.metrics` — AUC, GAUC, NDCG, MRR and full-ranking metrics (6);
* :mod:`invlearn.analysis`, :mod:`invlearn.theorem`, :mod:`invlearn.plots` — what chapters 1–5
  measure and draw; :mod:`invlearn.experiments` and :mod:`invlearn.report` — the grid of runs
  and its tables (6, 7); :mod:`invlearn.bench` — the speed benchmark; :mod:`invlearn.static` —
  the static-shape step for GPUs (dense tables, fused Adam, CUDA graphs), ``train_static``.
"""
from .config import METHODS, TrainConfig
from .data import Split, load_dataset
from .errors import InvlearnError
from .ig import ig_meta_step
from .methods import History, TrainResult, train
from .models import GMF, BiasedGMF, NeuMF, build_model

__all__ = ["GMF", "METHODS", "BiasedGMF", "History", "InvlearnError", "NeuMF", "Split",
           "TrainConfig", "TrainResult", "build_model", "ig_meta_step", "load_dataset", "train"]
__version__ = "0.1.0"
