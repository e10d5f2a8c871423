"""Simulated feed: a passive video feed whose true preferences are known for every pair.

Book chapter 1 ("The problem: passive feeds and sparse feedback") builds the feed at toy and
small size; chapter 8 runs it at the size of the paper's private Kuaishou "Micro Video" data
(37,692 users, 131,690 items, ~9.5M interactions; the paper's Table 3). The paper labels an
impression by its finish rate = watch time / duration: above 0.8 positive, below 0.2 negative,
the rest unlabeled (chapter 9 uses them as the "ambiguous" unlabeled pool). The simulator makes
the same kind of data, with the one thing real logs never have: the truth.

The model, in four steps (all vectorized with numpy, deterministic from one seed):

1. **Taste.** Users and items get latent factors ``U`` (``n_users × dim``) and ``V``
   (``n_items × dim``) drawn around a few cluster centres, plus biases. The true affinity of
   *every* pair is ``a(u, i) = U_u · V_i + b_u + b_i`` (computed on demand, never as a matrix).
   The threshold ``t`` is the ``1 − positive_rate`` quantile of ``a`` over random pairs, so about
   ``positive_rate`` of all pairs are truly positive: ``y*(u, i) = 1[a(u, i) > t]``. The true
   preference is ``p(u, i) = σ((a(u, i) − t) / temperature)``, so ``p > 0.5`` exactly when
   ``y* = 1``.
2. **Feed policy.** Each user gets a heavy-tailed (lognormal) number of impressions, at least
   ``min_per_user``. For each slot the policy draws ``n_candidates`` items by Zipf-like
   popularity (a share ``explore`` uniformly) and shows the one with the highest *noisy* affinity
   ``a + policy_noise · N(0, 1)``: the feed leans toward liked items but is far from perfect.
   A (user, item) pair is shown at most once.
3. **Watching.** Item durations are lognormal (median ``duration_median`` seconds, clipped to
   ``[duration_min, duration_max]``). The finish rate is ``σ(e)`` with the engagement
   ``e = watch_bias + watch_scale · logit p + patience_u − duration_effect · log(d / median)
   + watch_noise · ε`` (longer videos are finished less often); a share ``skip_rate`` of
   impressions are early skips with a finish rate uniform in [0, 0.2),
   whatever the preference. ``watch_time = finish_rate × duration``.
4. **Labelling** (the paper's rule): ``finish_rate > 0.8`` → 1, ``< 0.2`` → 0, else −1
   (unlabeled).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .errors import InvlearnError, check_int, check_number
from .sampling import is_pair, pair_keys
from .splits import Split, random_split

#: Finish-rate thresholds of the paper's labelling rule (Appendix A.4).
POSITIVE_FINISH = 0.8
NEGATIVE_FINISH = 0.2

#: Size presets. ``industrial`` has the users and items of the paper's processed Micro Video data
#: (Table 3) and as many impressions as it has labeled interactions (9.46M); about 31% of them
#: get a label. For ~9.4M *labeled* rows pass ``n_impressions=30_000_000`` (~45 s, ~2 GB).
SIZES: dict[str, dict] = {
    "toy": {"n_users": 200, "n_items": 300, "n_impressions": 6_000},
    "small": {"n_users": 2_000, "n_items": 3_000, "n_impressions": 120_000},
    "mid": {"n_users": 10_000, "n_items": 20_000, "n_impressions": 1_000_000},
    "industrial": {"n_users": 37_692, "n_items": 131_690, "n_impressions": 9_500_000},
}

#: The model's knobs and their defaults (tuned so that ~30% of impressions carry a label).
KNOBS: dict[str, Any] = {
    # taste
    "n_clusters": 8,  # user clusters and item clusters (each)
    "cluster_strength": 0.5,  # share of factor variance explained by the cluster centre
    "user_bias_std": 0.3,
    "item_bias_std": 0.5,
    "temperature": 1.0,  # p = sigmoid((a - t) / temperature)
    # feed policy
    "activity_sigma": 1.0,  # lognormal sigma of the users' activity
    "min_per_user": 5,
    "zipf_exponent": 0.8,  # popularity of the item at popularity rank r is r ** -zipf_exponent
    "popularity_quality": 0.5,  # correlation between popularity rank score and item bias
    "explore": 0.1,  # share of candidates drawn uniformly from the catalogue
    "n_candidates": 3,
    "policy_noise": 2.0,  # std of the policy's error on the affinity
    # watching
    "duration_median": 30.0,  # seconds
    "duration_sigma": 0.8,
    "duration_min": 3.0,
    "duration_max": 600.0,
    "watch_bias": -0.1,  # engagement offset: lower means fewer finished videos
    "watch_scale": 1.0,
    "watch_noise": 0.6,
    "patience_std": 0.4,
    "duration_effect": 0.3,
    "skip_rate": 0.03,
    # estimation
    "threshold_sample": 2_000_000,  # random pairs used to set the threshold t
}

_CHUNK = 1 << 20  # pairs per vectorized chunk: bounds the memory of any call
_SLOT_CHUNK = 1 << 18  # feed slots per chunk (each with n_candidates candidates)
_MAX_ROUNDS = 8  # policy rounds before the uniform top-up of users still short of impressions
_STATS_SAMPLE = 1_000_000
# Independent random streams, one per stage, so a change to one stage leaves the others alone.
_S_TASTE, _S_THRESHOLD, _S_ACTIVITY, _S_POLICY, _S_WATCH, _S_STATS, _S_TRUTH_TEST = range(7)


def _rng(seed: int, stream: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, stream]))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # overflow-free


@dataclass(eq=False, repr=False)
class SimFeed:
    """A simulated passive feed with known truth (book chapters 1 and 8).

    ``impressions`` has one row per shown (user, item) pair: ``user``, ``item`` (int64),
    ``duration``, ``watch_time``, ``finish_rate`` (float32) and ``label`` (int8: 1 positive,
    0 negative, −1 unlabeled). The factors, biases and ``threshold`` define the truth of every
    pair through :meth:`affinity`, :meth:`true_preference` and :meth:`true_label`. The other
    arrays (clusters, popularity, durations, patience) and ``knobs`` record how the feed was
    made, for the book's figures. Build one with :func:`simulate_feed`.
    """

    impressions: pd.DataFrame
    n_users: int
    n_items: int
    user_factors: np.ndarray
    item_factors: np.ndarray
    user_bias: np.ndarray
    item_bias: np.ndarray
    threshold: float
    temperature: float
    positive_rate: float
    seed: int
    size: str
    name: str
    user_cluster: np.ndarray
    item_cluster: np.ndarray
    item_popularity: np.ndarray
    item_duration: np.ndarray
    user_patience: np.ndarray
    knobs: dict = field(default_factory=dict)
    _stats: dict | None = field(default=None, init=False)

    def __repr__(self) -> str:
        return (f"SimFeed(name={self.name!r}, n_users={self.n_users}, n_items={self.n_items}, "
                f"impressions={len(self.impressions)}, seed={self.seed})")

    # -- the truth -------------------------------------------------------------------------
    def _pairs(self, users: Any, items: Any) -> tuple[np.ndarray, np.ndarray]:
        u, i = np.broadcast_arrays(np.asarray(users), np.asarray(items))
        for name, ids, bound in (("users", u, self.n_users), ("items", i, self.n_items)):
            if ids.size and not np.issubdtype(ids.dtype, np.integer):
                raise InvlearnError(f"{name} must be integer ids, got dtype {ids.dtype}")
            if ids.size and (ids.min() < 0 or ids.max() >= bound):
                raise InvlearnError(f"{name} must lie in [0, {bound}), "
                                    f"found [{ids.min()}, {ids.max()}]")
        return u.ravel(), i.ravel()

    def affinity(self, users: Any, items: Any) -> np.ndarray:
        """True affinity ``a(u, i) = U_u · V_i + b_u + b_i`` (float32, chapter 1).

        ``users`` and ``items`` broadcast against each other; the result has their shape.
        Computed in chunks, so ten million pairs need only a few hundred MB.
        """
        u, i = self._pairs(users, items)
        shape = np.broadcast_shapes(np.shape(users), np.shape(items))
        return _affinity(self.user_factors, self.item_factors, self.user_bias, self.item_bias,
                         u, i).reshape(shape)

    def true_preference(self, users: Any, items: Any) -> np.ndarray:
        """True preference ``p(u, i) = σ((a − t) / temperature)`` in (0, 1) (chapter 1)."""
        a = self.affinity(users, items)
        return _sigmoid((a - np.float32(self.threshold)) / np.float32(self.temperature))

    def true_label(self, users: Any, items: Any) -> np.ndarray:
        """True binary label ``y*(u, i) = 1[a(u, i) > t]`` as int8 0/1 (chapter 1)."""
        return (self.affinity(users, items) > np.float32(self.threshold)).astype(np.int8)

    # -- the observed data -------------------------------------------------------------------
    def labeled(self) -> pd.DataFrame:
        """The labeled impressions (finish rate > 0.8 or < 0.2) in their order: ``user``,
        ``item`` (int64), ``label`` (float32 0/1), ``duration``, ``watch_time``, ``finish_rate``."""
        imp = self.impressions
        rows = imp[imp["label"].to_numpy() >= 0]
        return pd.DataFrame({
            "user": rows["user"].to_numpy(np.int64),
            "item": rows["item"].to_numpy(np.int64),
            "label": rows["label"].to_numpy(np.float32),
            "duration": rows["duration"].to_numpy(),
            "watch_time": rows["watch_time"].to_numpy(),
            "finish_rate": rows["finish_rate"].to_numpy(),
        })

    def stats(self) -> dict:
        """Counts and truth-based diagnostics of the feed, as plain numbers.

        ``label_agreement`` is the share of labeled rows whose label equals the true label;
        ``positive_agreement`` / ``negative_agreement`` the same among positive / negative
        labels; ``random_true_positive_rate`` the truly positive share of a seeded sample of
        random pairs, ``feed_true_positive_rate`` the truly positive share of the impressions.
        """
        if self._stats is None:
            imp = self.impressions
            users, items = imp["user"].to_numpy(), imp["item"].to_numpy()
            label = imp["label"].to_numpy()
            truth = self.true_label(users, items)
            has = label >= 0
            pos, neg = label == 1, label == 0
            rng = _rng(self.seed, _S_STATS)
            n = _STATS_SAMPLE
            sample = self.true_label(rng.integers(0, self.n_users, n),
                                     rng.integers(0, self.n_items, n))
            self._stats = {
                "users": int(self.n_users),
                "items": int(self.n_items),
                "impressions": len(imp),
                "labeled": int(has.sum()),
                "positive": int(pos.sum()),
                "negative": int(neg.sum()),
                "unlabeled": int((~has).sum()),
                "labeled_fraction": float(has.mean()),
                "label_agreement": float((truth[has] == label[has]).mean()) if has.any() else 0.0,
                "positive_agreement": float(truth[pos].mean()) if pos.any() else 0.0,
                "negative_agreement": float(1 - truth[neg].mean()) if neg.any() else 0.0,
                "random_true_positive_rate": float(sample.mean()),
                "feed_true_positive_rate": float(truth.mean()),
                "threshold": float(self.threshold),
                "positive_rate": float(self.positive_rate),
                "seed": int(self.seed),
            }
        return dict(self._stats)

    def to_split(self, fractions: Sequence[float] = (0.6, 0.2, 0.2), seed: int = 0) -> Split:
        """:func:`invlearn.splits.random_split` of :meth:`labeled`, whose ``truth`` is this feed
        (the true label of every pair is known), ``info`` its :meth:`stats` plus ``split_seed``
        and ``fractions``, and ``ambiguous`` its :meth:`ambiguous` impressions (chapter 9)."""
        check_int(seed, "seed", 0)
        split = random_split(self.labeled(), fractions, seed=seed, name=self.name,
                             n_users=self.n_users, n_items=self.n_items)
        split.truth = self
        split.info = {**self.stats(), "split_seed": seed, "fractions": split.info["fractions"]}
        labeled = pair_keys(*(np.concatenate([getattr(split, part)[col].to_numpy()
                                              for part in ("train", "valid", "test")])
                              for col in ("user", "item")), self.n_items)
        split.ambiguous = self.ambiguous(exclude=labeled)
        return split

    def ambiguous(self, exclude: np.ndarray | None = None) -> pd.DataFrame:
        """The impressions the labelling rule leaves unlabeled: finish rate in [0.2, 0.8].

        Book chapter 9: the "slow skip / short stay" feedback the paper's introduction
        describes. Columns ``user``, ``item`` (int64), ``finish`` (the finish rate, float32) and
        ``label``, the pair's true label (float32 0/1), in the impressions' order. ``exclude``
        (sorted keys ``user · n_items + item``, see :func:`invlearn.sampling.pair_keys`) drops
        those pairs.
        """
        imp = self.impressions
        rows = imp[imp["label"].to_numpy() < 0]
        users, items = rows["user"].to_numpy(np.int64), rows["item"].to_numpy(np.int64)
        if exclude is not None:
            keep = ~is_pair(exclude, users, items, self.n_items)
            rows, users, items = rows[keep], users[keep], items[keep]
        return pd.DataFrame({
            "user": users, "item": items, "finish": rows["finish_rate"].to_numpy(np.float32),
            "label": self.true_label(users, items).astype(np.float32),
        })


def truth_test_set(split: Split, seed: int | None = None) -> pd.DataFrame:
    """A test set scored by the truth: the split's held-out test impressions and, for each, a
    random pair of the same user (an item drawn uniformly from the whole catalogue, shown or
    not), every row labeled by ``split.truth.true_label``, so that a metric on it judges a model
    by what users like rather than by what the feed's policy showed and the watching noise
    labeled. Columns ``user``, ``item``, ``label`` (float32 0/1) and ``source``
    (``"impression"`` or ``"random"``). The random items are drawn with ``seed`` (default: the
    split's ``split_seed``), so every run on one split is tested on the same rows."""
    truth = split.truth
    if truth is None:
        raise InvlearnError("a truth test set needs a split whose truth is known (the "
                            "simulated feed)")
    users = split.test["user"].to_numpy(np.int64)
    if seed is None:
        seed = int((split.info or {}).get("split_seed", 0))
    rng = np.random.default_rng(np.random.SeedSequence([seed, _S_TRUTH_TEST]))
    items = rng.integers(0, split.n_items, len(users), dtype=np.int64)
    table = pd.DataFrame({
        "user": np.concatenate([users, users]),
        "item": np.concatenate([split.test["item"].to_numpy(np.int64), items]),
        "source": np.repeat(["impression", "random"], len(users))})
    table["label"] = truth.true_label(table["user"].to_numpy(),
                                      table["item"].to_numpy()).astype(np.float32)
    return table


def _check_knobs(knobs: dict) -> dict:
    unknown = sorted(set(knobs) - set(KNOBS))
    if unknown:
        raise InvlearnError(f"unknown simulator knob(s) {unknown}; known: {sorted(KNOBS)}")
    k = {**KNOBS, **knobs}
    for name in ("n_clusters", "min_per_user", "n_candidates", "threshold_sample"):
        k[name] = check_int(k[name], name)
    for name in ("cluster_strength", "popularity_quality", "explore", "skip_rate"):
        k[name] = check_number(k[name], name, 0.0, 1.0)
    for name in ("user_bias_std", "item_bias_std", "activity_sigma", "zipf_exponent",
                 "policy_noise", "duration_sigma", "watch_scale", "watch_noise", "patience_std",
                 "duration_effect"):
        k[name] = check_number(k[name], name, 0.0, 1e6)
    k["watch_bias"] = check_number(k["watch_bias"], "watch_bias", -1e6, 1e6)
    for name in ("temperature", "duration_median", "duration_min", "duration_max"):
        k[name] = check_number(k[name], name, 0.0, 1e6, open_low=True)
    if not k["duration_min"] <= k["duration_median"] <= k["duration_max"]:
        raise InvlearnError("need duration_min <= duration_median <= duration_max, got "
                            f"{k['duration_min']}, {k['duration_median']}, {k['duration_max']}")
    return k


# -- the model's pieces -------------------------------------------------------------------------
def _affinity(uf: np.ndarray, vf: np.ndarray, ub: np.ndarray, ib: np.ndarray, users: np.ndarray,
              items: np.ndarray) -> np.ndarray:
    out = np.empty(len(users), dtype=np.float32)
    for start in range(0, len(users), _CHUNK):
        u, i = users[start:start + _CHUNK], items[start:start + _CHUNK]
        out[start:start + _CHUNK] = np.einsum("nd,nd->n", uf[u], vf[i]) + ub[u] + ib[i]
    return out


def _factors(rng: np.random.Generator, n: int, dim: int, k: dict) -> tuple[np.ndarray, ...]:
    """Clustered Gaussian factors scaled so that a dot product has variance about 1."""
    centres = rng.standard_normal((k["n_clusters"], dim))
    cluster = rng.integers(0, k["n_clusters"], n)
    rho = k["cluster_strength"]
    noise = rng.standard_normal((n, dim))
    factors = (math.sqrt(rho) * centres[cluster] + math.sqrt(1 - rho) * noise) * dim ** -0.25
    return factors.astype(np.float32), cluster.astype(np.int32)


def _quotas(rng: np.random.Generator, n_users: int, n_items: int, total: int,
            k: dict) -> np.ndarray:
    """Heavy-tailed impressions per user: a floor, then lognormal shares, capped at n_items."""
    floor = min(k["min_per_user"], total // n_users, n_items)
    weight = rng.lognormal(0.0, k["activity_sigma"], n_users)
    quota = np.full(n_users, floor, dtype=np.int64)
    rest = total - floor * n_users
    while rest > 0:  # water-filling: at most a few passes, each caps more users
        open_ = quota < n_items
        p = np.where(open_, weight, 0.0)
        quota += rng.multinomial(rest, p / p.sum())
        over = np.maximum(quota - n_items, 0)
        quota -= over
        rest = int(over.sum())
    return quota


def _threshold(rng: np.random.Generator, uf: np.ndarray, vf: np.ndarray, ub: np.ndarray,
               ib: np.ndarray, positive_rate: float, sample: int) -> float:
    n_users, n_items = len(uf), len(vf)
    if n_users * n_items <= sample:  # small universe: the exact quantile over all pairs
        users = np.repeat(np.arange(n_users), n_items)
        items = np.tile(np.arange(n_items), n_users)
    else:
        users, items = rng.integers(0, n_users, sample), rng.integers(0, n_items, sample)
    a = _affinity(uf, vf, ub, ib, users, items)
    return float(np.quantile(a.astype(np.float64), 1.0 - positive_rate))


def _policy_choice(rng: np.random.Generator, users: np.ndarray, cdf: np.ndarray,
                   uf: np.ndarray, vf: np.ndarray, ub: np.ndarray, ib: np.ndarray,
                   k: dict) -> np.ndarray:
    """For each slot, the best of ``n_candidates`` popularity-drawn items by noisy affinity."""
    n_items, n_cand, explore = len(vf), k["n_candidates"], k["explore"]
    chosen = np.empty(len(users), dtype=np.int64)
    for start in range(0, len(users), _SLOT_CHUNK):
        u = users[start:start + _SLOT_CHUNK]
        draw = rng.random((len(u), n_cand))
        uniform = draw < explore
        cand = np.where(
            uniform,
            (draw / max(explore, 1e-12) * n_items).astype(np.int64),
            np.searchsorted(cdf, (draw - explore) / (1.0 - explore), side="right"),
        )
        np.minimum(cand, n_items - 1, out=cand)
        score = np.einsum("nd,ncd->nc", uf[u], vf[cand]) + ib[cand]  # b_u is common to a row
        score += np.float32(k["policy_noise"]) * rng.standard_normal(score.shape, np.float32)
        chosen[start:start + _SLOT_CHUNK] = cand[np.arange(len(u)), score.argmax(axis=1)]
    return chosen


def _feed_pairs(rng: np.random.Generator, quota: np.ndarray, cdf: np.ndarray, uf: np.ndarray,
                vf: np.ndarray, ub: np.ndarray, ib: np.ndarray, k: dict) -> np.ndarray:
    """Distinct (user, item) keys ``user * n_items + item``, exactly ``quota[u]`` per user.

    Rounds of the policy fill each user's remaining quota (drawing a few more slots than
    needed, as repeats of an already shown pair are dropped); users still short after
    ``_MAX_ROUNDS`` rounds (only in very dense settings) are topped up with unseen items at
    random.
    """
    n_users, n_items = len(quota), len(vf)
    shown = np.empty(0, dtype=np.int64)  # sorted keys
    have = np.zeros(n_users, dtype=np.int64)
    for round_ in range(_MAX_ROUNDS):
        need = quota - have
        if not need.any():
            break
        slots = np.ceil(need * (1.1 + 0.5 * round_)).astype(np.int64) + (need > 0)
        users = np.repeat(np.arange(n_users, dtype=np.int64), slots)
        keys = users * n_items + _policy_choice(rng, users, cdf, uf, vf, ub, ib, k)
        if shown.size:
            pos = np.minimum(np.searchsorted(shown, keys), shown.size - 1)
            keys = keys[shown[pos] != keys]
        _, first = np.unique(keys, return_index=True)
        keys = keys[np.sort(first)]  # distinct, still grouped by user in draw order
        users = keys // n_items
        rank = np.arange(len(keys)) - np.searchsorted(users, users, side="left")
        keys = keys[rank < need[users]]
        have += np.bincount(keys // n_items, minlength=n_users)
        shown = np.sort(np.concatenate([shown, keys]), kind="stable")
    short = np.flatnonzero(quota > have)
    if short.size:
        shown = np.sort(np.concatenate([shown, _top_up(rng, short, (quota - have)[short],
                                                       shown, n_items)]))
    return shown


def _top_up(rng: np.random.Generator, users: np.ndarray, need: np.ndarray, shown: np.ndarray,
            n_items: int) -> np.ndarray:
    """Random unseen items for the few users the policy could not fill."""
    out = []
    step = max(1, _CHUNK // n_items)
    for start in range(0, len(users), step):
        u, d = users[start:start + step], need[start:start + step]
        keys = u[:, None] * n_items + np.arange(n_items)[None, :]
        pos = np.minimum(np.searchsorted(shown, keys), max(shown.size - 1, 0))
        seen = shown[pos] == keys if shown.size else np.zeros(keys.shape, bool)
        order = np.argsort(np.where(seen, 2.0, rng.random(keys.shape)), axis=1)
        take = np.arange(n_items)[None, :] < d[:, None]
        out.append(np.take_along_axis(keys, order, axis=1)[take])
    return np.concatenate(out)


def simulate_feed(size: str = "small", *, n_users: int | None = None,
                  n_items: int | None = None, n_impressions: int | None = None,
                  dim: int = 16, positive_rate: float = 0.35, seed: int = 0,
                  **knobs: Any) -> SimFeed:
    """Simulate a passive video feed with known truth (book chapter 1; chapter 8 at scale).

    ``size`` picks a preset of :data:`SIZES` (``toy``, ``small`` — the book's default —,
    ``mid``, ``industrial``); ``n_users``, ``n_items`` and ``n_impressions`` override its
    counts. ``n_impressions`` is the exact number of distinct (user, item) pairs shown.
    ``positive_rate`` is the share of *all* pairs that are truly positive. ``knobs`` override
    the model's settings in :data:`KNOBS`. The same ``seed`` gives the same feed. Three steps,
    each with its own random stream: every user's and item's taste, the feed policy that
    chooses the impressions, and how long each impression is watched.
    """
    nu, ni, n_imp, name = _feed_counts(size, n_users, n_items, n_impressions)
    dim = check_int(dim, "dim")
    positive_rate = check_number(positive_rate, "positive_rate", 0.0, 1.0, True, True)
    seed = check_int(seed, "seed", 0)
    k = _check_knobs(knobs)
    taste = _taste(seed, nu, ni, dim, positive_rate, k)
    users, items, popularity = _impressions(seed, nu, ni, n_imp, taste, k)
    watched, duration, patience = _watching(seed, nu, ni, users, items, taste, k)
    uf, vf, ub, ib, threshold, user_cluster, item_cluster = taste
    return SimFeed(
        impressions=watched, n_users=nu, n_items=ni, user_factors=uf, item_factors=vf,
        user_bias=ub, item_bias=ib, threshold=threshold, temperature=k["temperature"],
        positive_rate=positive_rate, seed=seed, size=size, name=name,
        user_cluster=user_cluster, item_cluster=item_cluster,
        item_popularity=popularity.astype(np.float32), item_duration=duration,
        user_patience=patience, knobs=k,
    )


def _feed_counts(size: str, n_users: int | None, n_items: int | None,
                 n_impressions: int | None) -> tuple[int, int, int, str]:
    """Users, items and impressions of a preset (or the given overrides), checked; the name."""
    if not isinstance(size, str) or size not in SIZES:
        raise InvlearnError(f"size must be one of {sorted(SIZES)}, got {size!r}")
    preset = SIZES[size]
    nu = check_int(preset["n_users"] if n_users is None else n_users, "n_users")
    ni = check_int(preset["n_items"] if n_items is None else n_items, "n_items")
    n_imp = check_int(preset["n_impressions"] if n_impressions is None else n_impressions,
                      "n_impressions")
    if n_imp > nu * ni:
        raise InvlearnError(f"n_impressions ({n_imp}) cannot exceed n_users * n_items "
                            f"({nu * ni}): a pair is shown at most once")
    if n_imp < nu:
        raise InvlearnError(f"n_impressions ({n_imp}) must be at least n_users ({nu}): "
                            "every user sees at least one item")
    overridden = (nu, ni, n_imp) != tuple(preset[c] for c in ("n_users", "n_items",
                                                              "n_impressions"))
    return nu, ni, n_imp, f"sim-{size}" if not overridden else f"sim-{nu}x{ni}x{n_imp}"


def _taste(seed: int, nu: int, ni: int, dim: int, positive_rate: float, k: dict) -> tuple:
    """Latent factors, biases and clusters of users and items, and the threshold that makes
    ``positive_rate`` of all pairs truly positive."""
    rng = _rng(seed, _S_TASTE)
    uf, user_cluster = _factors(rng, nu, dim, k)
    vf, item_cluster = _factors(rng, ni, dim, k)
    ub = (k["user_bias_std"] * rng.standard_normal(nu)).astype(np.float32)
    ib = (k["item_bias_std"] * rng.standard_normal(ni)).astype(np.float32)
    threshold = _threshold(_rng(seed, _S_THRESHOLD), uf, vf, ub, ib, positive_rate,
                           k["threshold_sample"])
    return uf, vf, ub, ib, threshold, user_cluster, item_cluster


def _impressions(seed: int, nu: int, ni: int, n_imp: int, taste: tuple,
                 k: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The feed policy: item popularity follows quality in part, then Zipf weights; each user's
    quota of impressions is drawn from it. Returns the shown (users, items) and popularity."""
    uf, vf, ub, ib = taste[:4]
    rng = _rng(seed, _S_ACTIVITY)
    q = k["popularity_quality"]
    z = ib / max(k["item_bias_std"], 1e-12)
    rank_score = q * z + math.sqrt(1 - q * q) * rng.standard_normal(ni)
    rank = np.empty(ni, dtype=np.float64)
    rank[np.argsort(-rank_score, kind="stable")] = np.arange(1, ni + 1)
    popularity = rank ** -k["zipf_exponent"]
    popularity /= popularity.sum()
    cdf = np.cumsum(popularity)
    cdf /= cdf[-1]
    quota = _quotas(rng, nu, ni, n_imp, k)
    keys = _feed_pairs(_rng(seed, _S_POLICY), quota, cdf, uf, vf, ub, ib, k)
    return keys // ni, keys % ni, popularity


def _watching(seed: int, nu: int, ni: int, users: np.ndarray, items: np.ndarray,
              taste: tuple, k: dict) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """How long each impression is watched (driven by the true preference, the user's
    patience and the video's duration), and the finish-rate labels: > 0.8 positive, < 0.2
    negative, the rest unlabeled (-1). Returns the impressions, durations and patience."""
    uf, vf, ub, ib, threshold = taste[:5]
    rng = _rng(seed, _S_WATCH)
    med = k["duration_median"]
    duration = np.clip(rng.lognormal(math.log(med), k["duration_sigma"], ni),
                       k["duration_min"], k["duration_max"]).astype(np.float32)
    patience = (k["patience_std"] * rng.standard_normal(nu)).astype(np.float32)
    logit_p = (_affinity(uf, vf, ub, ib, users, items) - np.float32(threshold))
    logit_p /= np.float32(k["temperature"])
    d = duration[items]
    engage = np.float32(k["watch_scale"]) * logit_p
    del logit_p
    engage += patience[users]
    engage += np.float32(k["watch_bias"])
    engage -= np.float32(k["duration_effect"]) * np.log(d / np.float32(med))
    engage += np.float32(k["watch_noise"]) * rng.standard_normal(len(users), np.float32)
    finish = _sigmoid(engage).astype(np.float32)
    del engage
    skip = rng.random(len(users)) < k["skip_rate"]
    below = np.nextafter(np.float32(NEGATIVE_FINISH), np.float32(0))  # stays < 0.2 in float32
    skipped = rng.uniform(0.0, NEGATIVE_FINISH, int(skip.sum())).astype(np.float32)
    finish[skip] = np.minimum(skipped, below)
    label = np.full(len(users), -1, dtype=np.int8)
    label[finish > np.float32(POSITIVE_FINISH)] = 1
    label[finish < np.float32(NEGATIVE_FINISH)] = 0
    impressions = pd.DataFrame({
        "user": users, "item": items, "duration": d, "watch_time": finish * d,
        "finish_rate": finish, "label": label,
    })
    return impressions, duration, patience
