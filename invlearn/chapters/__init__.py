"""The book's chapter helpers: what the chapters measure, draw and tabulate, kept apart from the
training core (which never imports this package).

* :mod:`invlearn.chapters.analysis` — measurements against the truth of the simulated feed;
* :mod:`invlearn.chapters.theorem` — Theorem 1 checked with logistic regression;
* :mod:`invlearn.chapters.plots` — the book's figures (needs matplotlib);
* :mod:`invlearn.chapters.report` — tables of results, paired tests, the decision rule;
* :mod:`invlearn.chapters.regime` — the regime map;
* :mod:`invlearn.chapters.helpers` — what chapters share: a cache of runs, key numbers.
"""
