"""invlearn: inverse learning (IDL and IG) for recommendation with extremely sparse feedback.

A small package behind the invlearn book; the README's table and the book's API page say which
module serves which chapter.

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
