"""The linear classifiers' fast predict answers exactly what scikit-learn's ``predict`` answers,
and leaves every input scikit-learn would refuse or treat specially to scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression, Perceptron, RidgeClassifier, SGDClassifier
from sklearn.tree import DecisionTreeClassifier

from minikn.modelserver.sklearn_fast import linear_predictor

X, Y = load_iris(return_X_y=True)
RNG = np.random.default_rng(7)
BATCHES = [X[:1], X[:2], X[48:53], RNG.normal(5.0, 3.0, size=(64, 4))]


@pytest.mark.parametrize(
    "estimator",
    [LogisticRegression(max_iter=500), SGDClassifier(random_state=0), Perceptron(random_state=0)],
    ids=["logistic", "sgd", "perceptron"],
)
@pytest.mark.parametrize("binary", [False, True], ids=["multiclass", "binary"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_fast_predict_equals_sklearns_predict(estimator: object, binary: bool, dtype: type) -> None:
    labels = np.where(Y == 0, "setosa", "other") if binary else Y
    model = estimator.fit(X, labels)  # type: ignore[attr-defined]
    fast = linear_predictor(model)
    assert fast is not None
    for batch in BATCHES:
        x = np.asarray(batch, dtype=dtype)
        got, want = fast(x), model.predict(x)
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)


def test_inputs_sklearn_checks_are_left_to_sklearn() -> None:
    fast = linear_predictor(LogisticRegression(max_iter=500).fit(X, Y))
    assert fast is not None
    nan = X[:2].copy()
    nan[0, 1] = np.nan
    for x in (
        nan,  # scikit-learn refuses NaN
        X[:2, :3],  # a wrong feature count
        X[:0],  # no rows
        X[0],  # 1-D
        X[:2].tolist(),  # not an array
        X[:2].astype(np.int64),  # converted by scikit-learn
    ):
        assert fast(x) is None


def test_other_estimators_and_feature_named_fits_have_no_fast_path() -> None:
    assert linear_predictor(DecisionTreeClassifier().fit(X, Y)) is None
    assert linear_predictor(RidgeClassifier().fit(X, Y)) is None  # its own predict
    assert linear_predictor(LogisticRegression()) is None  # not fitted
    sparse = LogisticRegression(max_iter=500).fit(X, Y).sparsify()
    assert linear_predictor(sparse) is None
    pandas = pytest.importorskip("pandas")
    frame = pandas.DataFrame(X, columns=["a", "b", "c", "d"])
    assert linear_predictor(LogisticRegression(max_iter=500).fit(frame, Y)) is None
