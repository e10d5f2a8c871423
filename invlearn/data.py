"""Data sets by name: MovieLens, the paper's own split, file triples and the simulated feed.

:func:`load_dataset` is the one entry point of the command line and the book (chapter 1 for the
problem and the data, chapter 6 for MovieLens, chapter 7 for the simulated feed). The pieces live
in :mod:`invlearn.movielens` (files, archives, downloads), :mod:`invlearn.splits` (the
:class:`Split` and how it is made) and :mod:`invlearn.simfeed` (the simulator); this module
re-exports their public names so that ``from invlearn.data import Split`` keeps working.
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from . import movielens
from .errors import InvlearnError
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
from .simfeed import simulate_feed
from .splits import (
    COLUMNS,
    POOLS,
    Split,
    label_fraction,
    load_split_files,
    random_split,
    unlabeled_pool,
)

__all__ = ["COLUMNS", "DATASETS", "MOVIELENS", "PAPER_SPLIT_FILES", "PAPER_SPLIT_FOLDER",
           "POOLS", "RATING_COLUMNS", "Split", "binarize", "data_home", "fetch_movielens",
           "label_fraction", "load_dataset", "load_movielens", "load_split_files",
           "random_split", "read_ratings", "unlabeled_pool"]

#: The data sets ``load_dataset`` knows (chapters 1, 6 and 7).
DATASETS = ("ml-1m", "ml-100k", "ml-1m-paper", "sim", "files")


def _checked_options(kwargs: dict[str, Any], name: str, allowed: Sequence[str]) -> dict[str, Any]:
    """``kwargs`` unchanged when every key is an option that data set ``name`` accepts."""
    unknown = sorted(set(kwargs) - set(allowed))
    if unknown:
        raise InvlearnError(
            f"data set {name!r} takes no option(s) {unknown}; it accepts "
            f"{', '.join(allowed) if allowed else 'none'}"
        )
    return kwargs


def load_dataset(
    name: str, seed: int = 0, data_home: str | os.PathLike | None = None, **kwargs: Any
) -> Split:
    """The labeled split of a data set by name: the one entry point of the CLI and the book.

    Book chapter 1 (the problem and the data), chapter 6 (MovieLens), chapter 7 (the simulated
    feed). ``name`` is one of :data:`~invlearn.data.DATASETS`:

    * ``"ml-1m"``, ``"ml-100k"``: :func:`load_movielens`, :func:`binarize` and a seeded
      :func:`random_split`; options ``fractions`` and ``rating_threshold``.
    * ``"ml-1m-paper"``: the paper's own split, read by :func:`load_split_files` from
      ``<home>/ml-1m-paper-split/`` (files :data:`~invlearn.movielens.PAPER_SPLIT_FILES`); ``rating_threshold``.
    * ``"files"``: your own files (:mod:`invlearn.owndata`): ``train``, ``valid`` and ``test``
      (:func:`~invlearn.owndata.files_split`), or one file ``data`` cut by ``split``
      (fractions, default 0.6, 0.2, 0.2) with ``seed`` (:func:`~invlearn.owndata.data_split`);
      options ``sep`` (default: guessed), ``header`` (default: detected),
      ``rating_threshold``, ``rating_range``, ``unlabeled`` (a file or table of unlabeled
      interactions) and ``eval_negatives`` (positive-only data). Ids may be any text.
    * ``"sim"``: the simulated passive feed, ``simulate_feed(size="small", seed=seed,
      **kwargs).to_split(seed=seed)`` from :mod:`invlearn.simfeed` (chapters 1 and 7); its
      ``ambiguous`` impressions are the unlabeled pool of chapter 8.
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
            raise InvlearnError(
                f"the paper split needs {', '.join(PAPER_SPLIT_FILES)} in {folder}; "
                f"missing: {', '.join(absent)}"
            )
        return load_split_files(*paths, rating_threshold=opts.get("rating_threshold", 3),
                                name=name)
    if name == "files":
        from .owndata import data_split, files_split, parse_fractions

        opts = _checked_options(kwargs, name, ("train", "valid", "test", "sep", "rating_threshold",
                                    "rating_range", "data", "split", "header", "unlabeled",
                                    "eval_negatives"))
        if opts.get("data") is not None:
            fractions = parse_fractions(opts.pop("split", None) or (0.6, 0.2, 0.2), "split")
            opts.pop("rating_range", None)
            return data_split(opts.pop("data"), fractions, seed=seed, **opts)
        absent = [k for k in ("train", "valid", "test") if opts.get(k) is None]
        if absent:
            raise InvlearnError(f"data set 'files' needs the paths train, valid and test; "
                                f"missing: {', '.join(absent)}")
        return files_split(**opts, name=name, seed=seed)
    if name == "sim":
        opts = dict(kwargs)
        size = opts.pop("size", "small")
        return simulate_feed(size=size, seed=seed, **opts).to_split(seed=seed)
    raise InvlearnError(f"unknown data set {name!r}; valid names: {', '.join(DATASETS)}")
