"""An Isolation Forest (Liu, Ting and Zhou, ICDM 2008) in NumPy: the learned drift detector's model.

Each tree isolates points of a random subsample by random splits (a
random feature, a random threshold between the node's minimum and
maximum) down to the height limit ceil(log2(subsample)). An outlier is
isolated in few splits: its score 2 ** (-E[path length] / c(subsample))
is close to 1; typical points score about 0.5 or less. This is the
algorithm scikit-learn's IsolationForest implements (a unit test checks
that the two rank points alike); it is written here because importing
scikit-learn (with SciPy) costs about 1 s per process, a tenth of an
increment at SF1, for a model of a few hundred rows that fits in
milliseconds.

A feature that is constant in the training data is never split on (no
threshold separates anything), so a forest cannot see a change in it:
the profile fed to it (drift.py) uses features that vary from batch to
batch, and the statistical checks cover the constant ones (duplicates).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

EULER_GAMMA = 0.5772156649015329


def average_path(n: NDArray[np.float64] | float) -> NDArray[np.float64]:
    """c(n): the mean path length of an unsuccessful search in a binary search tree of n points."""
    size = np.asarray(n, dtype=float)
    out = np.zeros_like(size)
    big = size > 2
    out[size == 2] = 1.0
    out[big] = 2.0 * (np.log(size[big] - 1.0) + EULER_GAMMA) - 2.0 * (size[big] - 1.0) / size[big]
    return out


class IsolationForest:
    """`fit` on rows of features, then `score`: higher is more anomalous (about 0.5 is typical).

    All trees grow together, one level at a time (NumPy over every node of
    that level), so fitting 200 trees on 200 rows takes milliseconds, not
    the seconds a node-by-node loop in Python takes.
    """

    def __init__(self, trees: int = 200, subsample: int = 256, seed: int = 0) -> None:
        self.trees = trees
        self.subsample = subsample
        self.seed = seed
        self._normaliser = 1.0
        self._feature = np.zeros(0, dtype=np.int64)  # per node; -1 at a leaf
        self._threshold = np.zeros(0)
        self._left = np.zeros(0, dtype=np.int64)  # the right child is left + 1
        self._leaf_path = np.zeros(0)  # at a leaf: its depth + c(points left in it)

    def fit(self, rows: NDArray[np.float64]) -> IsolationForest:
        points = np.asarray(rows, dtype=float)
        if points.ndim != 2 or len(points) < 2:
            raise ValueError("an Isolation Forest needs at least two rows of features")
        rng = np.random.default_rng(self.seed)
        size = min(self.subsample, len(points))
        limit = math.ceil(math.log2(size))
        # One (tree's node, row) pair per row of each tree's subsample; node i < trees is tree i's root.
        row = np.concatenate([rng.choice(len(points), size, replace=False) for _ in range(self.trees)])
        node = np.repeat(np.arange(self.trees), size)
        feature = [np.full(self.trees, -1)]
        threshold = [np.zeros(self.trees)]
        left = [np.full(self.trees, -1)]
        counts = [np.full(self.trees, size)]
        depths = [np.zeros(self.trees, dtype=np.int64)]
        next_id = self.trees
        for depth in range(limit):
            if not len(node):
                break
            order = np.argsort(node, kind="stable")
            node, row = node[order], row[order]
            ids, starts, sizes = np.unique(node, return_index=True, return_counts=True)
            values = points[row]
            lows = np.minimum.reduceat(values, starts, axis=0)
            highs = np.maximum.reduceat(values, starts, axis=0)
            splittable = highs > lows
            draw = np.where(splittable, rng.random(splittable.shape), -1.0)
            chosen = draw.argmax(axis=1)
            split = splittable.any(axis=1) & (sizes > 1)
            at = np.arange(len(ids))
            cut = lows[at, chosen] + rng.random(len(ids)) * (highs[at, chosen] - lows[at, chosen])
            # Children of the nodes that split: ids next_id, next_id + 1, ... two each.
            first_child = np.full(len(ids), -1)
            first_child[split] = next_id + 2 * np.arange(int(split.sum()))
            next_id += 2 * int(split.sum())
            self._set(feature, threshold, left, ids, np.where(split, chosen, -1), cut, first_child)
            # Each pair goes to its node's left or right child; pairs of nodes that did not split stop.
            position = np.repeat(at, sizes)
            moving = split[position]
            goes_left = values[moving, chosen[position[moving]]] < cut[position[moving]]
            node = first_child[position[moving]] + (~goes_left).astype(np.int64)
            row = row[moving]
            child_ids, child_sizes = np.unique(node, return_counts=True)
            grown = np.full(next_id - sum(len(f) for f in feature), 0)
            feature.append(np.full(len(grown), -1))
            threshold.append(np.zeros(len(grown)))
            left.append(np.full(len(grown), -1))
            offset = next_id - len(grown)
            sized = np.zeros(len(grown), dtype=np.int64)
            sized[child_ids - offset] = child_sizes
            counts.append(sized)
            depths.append(np.full(len(grown), depth + 1))
        self._feature = np.concatenate(feature)
        self._threshold = np.concatenate(threshold)
        self._left = np.concatenate(left)
        self._leaf_path = np.concatenate(depths) + average_path(np.concatenate(counts).astype(float))
        self._normaliser = float(average_path(float(size)))
        return self

    @staticmethod
    def _set(
        feature: list[NDArray[np.int64]],
        threshold: list[NDArray[np.float64]],
        left: list[NDArray[np.int64]],
        ids: NDArray[np.int64],
        chosen: NDArray[np.int64],
        cut: NDArray[np.float64],
        first_child: NDArray[np.int64],
    ) -> None:
        """Record the splits of nodes `ids` (all of the last level appended)."""
        start = sum(len(f) for f in feature) - len(feature[-1])
        feature[-1][ids - start] = chosen
        threshold[-1][ids - start] = cut
        left[-1][ids - start] = first_child

    def score(self, rows: NDArray[np.float64]) -> NDArray[np.float64]:
        points = np.atleast_2d(np.asarray(rows, dtype=float))
        # Every point starts at every tree's root and walks down until a leaf.
        at = np.tile(np.arange(self.trees), (len(points), 1))
        which = np.repeat(np.arange(len(points))[:, np.newaxis], self.trees, axis=1)
        while True:
            inner = self._feature[at] >= 0
            if not inner.any():
                break
            nodes = at[inner]
            below = points[which[inner], self._feature[nodes]] < self._threshold[nodes]
            at[inner] = self._left[nodes] + (~below).astype(np.int64)
        mean_path = self._leaf_path[at].mean(axis=1)
        return np.asarray(2.0 ** (-mean_path / self._normaliser), dtype=float)
