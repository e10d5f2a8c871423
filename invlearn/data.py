"""Data sets by name: MovieLens, the paper's own split, file triples and the simulated feed.

:func:`load_dataset` is the one entry point of the command line and the book (chapter 1 for the
problem and the data, chapter 6 for MovieLens, chapter 8 for the simulated feed). The pieces live
in :mod:`invlearn.movielens` (files, archives, downloads), :mod:`invlearn.splits` (the
:class:`~invlearn.splits.Split` and how it is made) and :mod:`invlearn.simfeed` (the simulator);
this module re-exports their public names so that ``from invlearn.data import Split`` keeps working.
"""
from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import movielens
from .errors import InvlearnError, check_int
from .movielens import (
    MOVIELENS,
    PAPER_SPLIT_FILES,
    PAPER_SPLIT_FOLDER,
    RATING_COLUMNS,
    binarize,
    data_home,
    fetch_movielens,
    load_movielens,
    read_ratings,
)
from .simfeed import SIZES, simulate_feed
from .splits import (
    COLUMNS,
    POOLS,
    Split,
    label_fraction,
    load_split_files,
    random_split,
    unlabeled_pool,
)

__all__ = [
    "COLUMNS", "DATASETS", "DATA_KEYS", "FILE_KEYS", "MOVIELENS", "OWN_KEYS", "PAPER_SPLIT_FILES",
    "PAPER_SPLIT_FOLDER", "PATH_KEYS", "POOLS", "RATING_COLUMNS", "Split", "binarize",
    "check_data_keys", "data_home", "dataset_arguments", "fetch_movielens", "label_fraction",
    "load_dataset", "load_movielens", "load_split_files", "random_split", "read_ratings",
    "unlabeled_pool",
]

#: The data sets ``load_dataset`` knows.
DATASETS = ("ml-1m", "ml-100k", "ml-1m-paper", "sim", "files")


#: Run parameters that choose the data (the rest are TrainConfig fields); the command line's
#: ``--dataset``, ``--sim-size``, ``--data-home``, ``--train``, ``--valid``, ``--test`` and the
#: own-data options ``--data``, ``--split``, ``--unlabeled``, ``--sep``, ``--header``,
#: ``--rating-threshold``, ``--eval-negatives``.
DATA_KEYS = ("dataset", "sim_size", "data_home", "train", "valid", "test", "data", "split",
             "unlabeled", "sep", "header", "rating_threshold", "eval_negatives")
#: The three files of the ``files`` data set.
FILE_KEYS = ("train", "valid", "test")
#: Data keys that say how to read your own files, dataset files only (:mod:`invlearn.owndata`).
OWN_KEYS = ("data", "split", "sep", "header", "rating_threshold", "eval_negatives")
#: Data keys that are paths (a grid spec's relative paths are relative to the spec's folder).
PATH_KEYS = ("train", "valid", "test", "data", "unlabeled", "data_home")


def check_data_keys(keys: dict[str, Any], flags: bool = False) -> None:
    """Raise :class:`~invlearn.errors.InvlearnError` for data keys that name no data set or would
    be ignored: the rules of every caller (run parameters, grid specs, the command line, whose
    messages name the options when ``flags``)."""
    def say(key: str) -> str:
        return f"--{key.replace('_', '-')}" if flags else key

    name = keys.get("dataset", "sim")
    if name not in DATASETS:
        raise InvlearnError(f"{say('dataset')} must be one of {', '.join(DATASETS)}, "
                            f"got {name!r}")
    if keys.get("sim_size") is not None:
        if name != "sim":
            raise InvlearnError(f"{say('sim_size')} applies only to {say('dataset')} sim, "
                                f"not {name!r}")
        if keys["sim_size"] not in SIZES:
            raise InvlearnError(f"{say('sim_size')} must be one of {', '.join(SIZES)}, "
                                f"got {keys['sim_size']!r}")
    if keys.get("data_home") is not None and name in ("sim", "files"):
        raise InvlearnError(f"{say('data_home')} applies only to the MovieLens data sets, "
                            f"not {name!r}")
    given = [say(k) for k in (*FILE_KEYS, *OWN_KEYS) if keys.get(k) is not None]
    if given and name != "files":
        verb = "apply" if len(given) > 1 else "applies"
        raise InvlearnError(f"{', '.join(given)} {verb} only to {say('dataset')} files, "
                            f"not {name!r}")
    missing = [say(k) for k in FILE_KEYS if keys.get(k) is None]
    if name == "files" and keys.get("data") is not None:
        both = [say(k) for k in FILE_KEYS if keys.get(k) is not None]
        if both:
            raise InvlearnError(f"give either {say('data')} (one file, split by {say('split')}) "
                                f"or {', '.join(map(say, FILE_KEYS))}, not both; got "
                                f"{say('data')} and {', '.join(both)}")
    elif name == "files" and missing:
        raise InvlearnError(f"{say('dataset')} files needs {', '.join(map(say, FILE_KEYS))} "
                            f"(or {say('data')}); missing: {', '.join(missing)}")
    for part in (*FILE_KEYS, "data", "unlabeled"):
        path = keys.get(part)
        if path is None:
            continue
        if not isinstance(path, (str, os.PathLike)) or not str(path).strip():
            raise InvlearnError(f"{say(part)} must be a file path, got {path!r:.60}")
        if not Path(path).is_file():
            what = "is not a regular file" if Path(path).exists() else "does not exist"
            raise InvlearnError(f"{say(part)} file {path} {what}")
    _check_own_keys(keys, say)


def _check_own_keys(keys: dict[str, Any], say: Any) -> None:
    """The options of your own files: fractions, separator, header, threshold, negatives."""
    from .owndata import parse_fractions

    if keys.get("split") is not None:
        parse_fractions(keys["split"], say("split"))
    sep = keys.get("sep")
    if sep is not None and (not isinstance(sep, str) or not sep):
        raise InvlearnError(f"{say('sep')} must be a non-empty string, got {sep!r}")
    if keys.get("header") is not None and not isinstance(keys["header"], bool):
        raise InvlearnError(f"{say('header')} must be true or false, got {keys['header']!r}")
    threshold = keys.get("rating_threshold")
    if threshold is not None and (isinstance(threshold, bool) or not isinstance(
            threshold, (int, float)) or not math.isfinite(threshold)):
        raise InvlearnError(f"{say('rating_threshold')} must be a finite number, "
                            f"got {threshold!r}")
    if keys.get("eval_negatives") is not None:
        check_int(keys["eval_negatives"], say("eval_negatives"), 1, 1000)


def dataset_arguments(keys: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The checked data keys as :func:`load_dataset`'s name and keyword arguments (without the
    seed): the ``files`` paths and own-data options, the simulated feed's size (default
    ``small``), the data home. ``unlabeled`` is for the caller to add to the loaded split (a
    ``files`` data set reads it itself)."""
    check_data_keys(keys)
    name = keys.get("dataset", "sim")
    extra: dict[str, Any] = {k: keys[k] for k in (*FILE_KEYS, *OWN_KEYS)
                             if keys.get(k) is not None}
    if name == "sim":
        extra["size"] = keys.get("sim_size") or "small"
    if name == "files" and keys.get("unlabeled") is not None:
        extra["unlabeled"] = keys["unlabeled"]
    return name, {"data_home": keys.get("data_home"), **extra}


def _checked_options(kwargs: dict[str, Any], name: str, allowed: Sequence[str]) -> dict[str, Any]:
    """``kwargs`` unchanged when every key is an option that data set ``name`` accepts."""
    unknown = sorted(set(kwargs) - set(allowed))
    if unknown:
        raise InvlearnError(f"data set {name!r} takes no option(s) {unknown}; it accepts "
                            f"{', '.join(allowed) if allowed else 'none'}")
    return kwargs


def load_dataset(name: str, seed: int = 0, data_home: str | os.PathLike | None = None,
                 **kwargs: Any) -> Split:
    """The labeled split of a data set by name: the one entry point of the CLI and the book.

    ``name`` is one of :data:`DATASETS`:

    * ``"ml-1m"``, ``"ml-100k"``: :func:`~invlearn.movielens.load_movielens`,
      :func:`~invlearn.movielens.binarize` and a seeded :func:`~invlearn.splits.random_split`;
      options ``fractions`` and ``rating_threshold``.
    * ``"ml-1m-paper"``: the paper's own split, read by
      :func:`~invlearn.splits.load_split_files` from ``<home>/ml-1m-paper-split/`` (files
      :data:`~invlearn.movielens.PAPER_SPLIT_FILES`); ``rating_threshold``.
    * ``"files"``: your own files (:mod:`invlearn.owndata`): ``train``, ``valid`` and ``test``
      (:func:`~invlearn.owndata.files_split`), or one file ``data`` cut by ``split``
      (fractions, default 0.6, 0.2, 0.2) with ``seed`` (:func:`~invlearn.owndata.data_split`);
      options ``sep`` (default: guessed), ``header`` (default: detected),
      ``rating_threshold``, ``rating_range``, ``unlabeled`` (a file or table of unlabeled
      interactions) and ``eval_negatives`` (positive-only data). Ids may be any text.
    * ``"sim"``: the simulated passive feed, ``simulate_feed(size="small", seed=seed,
      **kwargs).to_split(seed=seed)`` from :mod:`invlearn.simfeed`; its
      ``ambiguous`` impressions are the unlabeled pool of chapter 9.
    """
    if name in MOVIELENS:
        opts = _checked_options(kwargs, name, ("fractions", "rating_threshold"))
        ratings = binarize(load_movielens(name, data_home), opts.get("rating_threshold", 3))
        return random_split(ratings, opts.get("fractions", (0.6, 0.2, 0.2)), seed=seed,
                            name=name)
    if name == "ml-1m-paper":
        opts = _checked_options(kwargs, name, ("rating_threshold",))
        folder = movielens.data_home(data_home) / PAPER_SPLIT_FOLDER
        paths = [folder / f for f in PAPER_SPLIT_FILES]
        absent = [p.name for p in paths if not p.is_file()]
        if absent:
            raise InvlearnError(f"the paper split needs {', '.join(PAPER_SPLIT_FILES)} in "
                                f"{folder}; missing: {', '.join(absent)}")
        return load_split_files(*paths, rating_threshold=opts.get("rating_threshold", 3),
                                name=name)
    if name == "files":
        from .owndata import data_split, files_split, parse_fractions

        opts = _checked_options(kwargs, name, ("train", "valid", "test", "sep", "rating_threshold",
                                    "rating_range", "data", "split", "header", "unlabeled",
                                    "eval_negatives"))
        check_data_keys({"dataset": name, **{k: opts.get(k) for k in (*FILE_KEYS, "data")}})
        if opts.get("data") is not None:
            fractions = parse_fractions(opts.pop("split", None) or (0.6, 0.2, 0.2), "split")
            opts.pop("rating_range", None)
            return data_split(opts.pop("data"), fractions, seed=seed, **opts)
        return files_split(**opts, name=name, seed=seed)
    if name == "sim":
        opts = dict(kwargs)
        size = opts.pop("size", "small")
        return simulate_feed(size=size, seed=seed, **opts).to_split(seed=seed)
    raise InvlearnError(f"unknown data set {name!r}; valid names: {', '.join(DATASETS)}")
