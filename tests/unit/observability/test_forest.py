"""The Isolation Forest behind the learned drift detector (observability/forest.py)."""

from __future__ import annotations

import numpy as np
import pytest

from tpch_elt.observability.forest import IsolationForest, average_path


def _data(seed: int = 1, features: int = 3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    normal = rng.normal(0, 1, size=(300, features))
    outliers = rng.normal(0, 1, size=(10, features))
    outliers[:, 1] += 12  # far out in one feature
    outliers[5:, 2] -= 9  # and some in two
    return normal, outliers


def test_average_path_is_the_bst_unsuccessful_search_length() -> None:
    assert average_path(1.0) == 0.0
    assert average_path(2.0) == 1.0
    # c(256) = 2 H(255) - 2 * 255 / 256, H(i) ~ ln(i) + Euler's gamma
    assert average_path(256.0) == pytest.approx(10.2448, abs=1e-3)


def test_a_point_far_out_is_the_most_isolated_of_the_rows_it_was_fitted_with() -> None:
    normal, outliers = _data()
    for outlier in outliers:
        rows = np.vstack([normal, outlier])
        scores = IsolationForest(trees=200, seed=0).fit(rows).score(rows)
        assert scores[-1] > scores[:-1].max()
        assert 0.3 < float(np.median(scores[:-1])) < 0.5


def test_a_point_beyond_the_training_range_scores_like_the_training_extremes() -> None:
    """Why drift.py fits the forest with the batch under judgement among its rows:
    trained without it, a value far beyond the range ends in the extreme rows' leaf."""
    normal, outliers = _data()
    forest = IsolationForest(trees=200, seed=0).fit(normal)
    assert forest.score(outliers[:5]).min() < forest.score(normal).max()


def test_the_same_seed_gives_the_same_scores() -> None:
    normal, outliers = _data()
    first = IsolationForest(trees=50, seed=7).fit(normal).score(outliers)
    again = IsolationForest(trees=50, seed=7).fit(normal).score(outliers)
    assert np.array_equal(first, again)


def test_ranks_points_as_scikit_learns_isolation_forest_does() -> None:
    sklearn = pytest.importorskip("sklearn.ensemble")
    normal, outliers = _data(3, features=6)
    points = np.vstack([normal[:200], outliers[0]])
    ours = IsolationForest(trees=300, seed=0).fit(points).score(points)
    theirs = -sklearn.IsolationForest(n_estimators=300, random_state=0).fit(points).score_samples(points)
    assert np.argmax(ours) == np.argmax(theirs) == 200
    rank = lambda values: np.argsort(np.argsort(values))  # noqa: E731
    assert np.corrcoef(rank(ours), rank(theirs))[0, 1] > 0.8


def test_a_feature_constant_in_training_is_never_split_on() -> None:
    normal, _ = _data()
    normal[:, 0] = 0.0
    forest = IsolationForest(trees=20, seed=0).fit(normal)
    shifted = normal[:5].copy()
    shifted[:, 0] = 1000.0
    assert np.allclose(forest.score(shifted), forest.score(normal[:5]))


def test_needs_two_rows() -> None:
    with pytest.raises(ValueError, match="two rows"):
        IsolationForest().fit(np.zeros((1, 3)))
