"""invlearn: inverse learning (IDL and IG) for recommendation with extremely sparse feedback.

A small package behind the invlearn book. Chapter by chapter:

* :mod:`invlearn.data` and :mod:`invlearn.simfeed` — MovieLens and the simulated passive feed (1);
* :mod:`invlearn.losses` — BCE, T-CE, R-CE (2) and the Inverse Dual Loss (3);
* :mod:`invlearn.methods` — the eight methods and ``train`` (1–3, 5), IG's meta-step (4–5);
* :mod:`invlearn.metrics` — AUC, GAUC, NDCG, MRR and full-ranking metrics (6);
* :mod:`invlearn.record`, :mod:`invlearn.grid`, :mod:`invlearn.study` — one run's record, the
  grid of runs and the validation search (6, 7); :mod:`invlearn.bench` — the speed benchmark;
  :mod:`invlearn.static` — the static-shape step for GPUs (dense tables, fused Adam, CUDA
  graphs), ``train_static``;
* :mod:`invlearn.chapters` — what the chapters measure, draw and tabulate (analysis, theorem,
  plots, report, regime, helpers), apart from the training core;
* :mod:`invlearn.owndata` and :mod:`invlearn.serving` — your own data in, scores and
  recommendations out, ``save`` and ``load``.

Quick start on your own data (ids of any kind; book/usage.md, "Use it on your own data")::

    import invlearn

    data = invlearn.data_split("feed.csv", (0.6, 0.2, 0.2), seed=0,   # user,item,rating
                               unlabeled="unlabeled.csv")              # user,item
    result = invlearn.train(data, method="ig", epochs=20, pool="unlabeled")
    result.metrics                          # test metrics of the best validation epoch
    result.predict(["u1", "u1"], ["video_3", "video_9"])   # probabilities
    result.recommend("u1", k=10)            # items u1 has not seen, best first
    result.save("model.pt")
    same = invlearn.load("model.pt")        # scores exactly as result does

The label rule (:data:`invlearn.owndata.LABEL_RULE`): a ``label`` column (0/1) is the label, else
label = rating >= ``rating_threshold`` (default 3); a two-column file is positive-only and
validation and test get sampled negatives. ``auc``, ``gauc``, ``ndcg@10`` and ``mrr`` are
computed on the labeled test rows, ``recall@K`` and ``ndcg@K`` (K = 20, 50) by full ranking.
Settings: ``help(invlearn.TrainConfig)`` lists every field with its help line.
"""
from .config import METHODS, TrainConfig
from .data import Split, load_dataset
from .errors import InvlearnError
from .ig import ig_meta_step
from .methods import train
from .models import GMF, BiasedGMF, NeuMF, build_model
from .owndata import data_split, own_split, read_interactions
from .training import History, TrainResult, load

__all__ = ["GMF", "METHODS", "BiasedGMF", "History", "InvlearnError", "NeuMF", "Split",
           "TrainConfig", "TrainResult", "build_model", "data_split", "ig_meta_step", "load",
           "load_dataset", "own_split", "read_interactions", "train"]
__version__ = "0.1.0"
