"""scikit-learn's linear classifiers' ``predict`` on a plain float matrix, minus per-call checks.

scikit-learn spends ~200 µs of every ``predict`` validating its input (array-API namespaces,
dataframe probes, feature names, finiteness) around a dot product of a few µs: for a small batch,
most of a model server's CPU per call. For an estimator whose ``predict`` and
``decision_function`` are ``LinearClassifierMixin``'s (LogisticRegression, RidgeClassifier,
SGDClassifier, Perceptron, LinearSVC, ...) and an input those checks would pass unchanged (a
finite 2-D float32/float64 numpy array with the fitted number of features and at least one row,
for a model fitted without feature names and with dense coefficients), :func:`linear_predictor`
does the same arithmetic scikit-learn does (``X @ coef_.T + intercept_``, then ``> 0`` or
``argmax``, then ``classes_.take``), so the answer is the same. Anything else answers None and
goes to scikit-learn, which predicts or refuses as it always does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["linear_predictor"]

_MIXIN = ("sklearn.linear_model._base", "LinearClassifierMixin")
_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))

FastPredict = Callable[[Any], Any]
"""``predict`` of one input: the classes, or None to leave the input to scikit-learn."""


def _is_mixins(estimator: Any, method: str) -> bool:
    fn = getattr(type(estimator), method, None)
    return (getattr(fn, "__module__", None), getattr(fn, "__qualname__", "")) == (
        _MIXIN[0],
        f"{_MIXIN[1]}.{method}",
    )


def linear_predictor(estimator: Any) -> FastPredict | None:
    """The fast ``predict`` of ``estimator``, or None when it has none (see the module's doc)."""
    if not (_is_mixins(estimator, "predict") and _is_mixins(estimator, "decision_function")):
        return None
    if hasattr(estimator, "feature_names_in_"):
        return None  # scikit-learn checks (and warns about) the input's feature names
    coef = getattr(estimator, "coef_", None)
    classes = getattr(estimator, "classes_", None)
    features = getattr(estimator, "n_features_in_", None)
    if not isinstance(coef, np.ndarray) or not isinstance(classes, np.ndarray):
        return None  # unfitted, or sparsified coefficients
    if not isinstance(features, int):
        return None

    def predict(x: Any) -> Any:
        if (
            type(x) is not np.ndarray
            or x.ndim != 2
            or x.dtype not in _FLOATS
            or x.shape[0] == 0
            or x.shape[1] != features
            or not np.isfinite(x).all()
        ):
            return None
        coef = estimator.coef_
        scores = x @ (coef.T if coef.ndim == 2 else coef) + estimator.intercept_
        if scores.ndim > 1 and scores.shape[1] == 1:
            scores = scores.reshape(-1)
        indices = (scores > 0).astype(np.intp) if scores.ndim == 1 else scores.argmax(axis=1)
        return estimator.classes_.take(indices, axis=0)

    return predict
