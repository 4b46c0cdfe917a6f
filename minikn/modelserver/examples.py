"""Iris example models for the shipped ISVCs, trained on first use (no download).

Pickled sklearn models depend on the installed scikit-learn version, so nothing is committed:
``ensure_example_models(dir)`` trains what is missing or was built by another library version.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["EXAMPLES", "ensure_example_models", "train"]

log = logging.getLogger("minikn.modelserver.examples")
STAMP = ".minikn-example"


def _iris() -> tuple[Any, Any]:
    from sklearn.datasets import load_iris

    features, target = load_iris(return_X_y=True)
    return features, target


def _sklearn(out: Path) -> str:
    import joblib
    import sklearn
    from sklearn.linear_model import LogisticRegression

    x, y = _iris()
    joblib.dump(LogisticRegression(max_iter=1000).fit(x, y), out / "model.joblib")
    return f"scikit-learn {sklearn.__version__}"


def _xgboost(out: Path) -> str:
    import xgboost as xgb

    x, y = _iris()
    params = {"objective": "multi:softmax", "num_class": 3, "max_depth": 3, "nthread": 1}
    booster = xgb.train(params, xgb.DMatrix(x, label=y), num_boost_round=10)
    # .json: xgboost warns that a .bst name is ambiguous; KServe's xgbserver loads .json too.
    booster.save_model(str(out / "model.json"))
    return f"xgboost {xgb.__version__}"


def _lightgbm(out: Path) -> str:
    import lightgbm as lgb

    x, y = _iris()
    params = {"objective": "multiclass", "num_class": 3, "verbose": -1, "num_threads": 1}
    booster = lgb.train(params, lgb.Dataset(x, label=y), num_boost_round=10)
    booster.save_model(str(out / "model.bst"))
    return f"lightgbm {lgb.__version__}"


EXAMPLES: dict[str, Callable[[Path], str]] = {
    "sklearn-iris": _sklearn,
    "xgboost-iris": _xgboost,
    "lightgbm-iris": _lightgbm,
}
"""Model directory name -> trainer (returns the library version it used)."""


def _version_of(name: str) -> str:
    module = {"sklearn-iris": "sklearn", "xgboost-iris": "xgboost", "lightgbm-iris": "lightgbm"}
    lib = __import__(module[name])
    label = {"sklearn": "scikit-learn"}.get(module[name], module[name])
    return f"{label} {lib.__version__}"


def train(name: str, directory: Path) -> Path:
    """Train one example model into ``directory/name``."""
    out = directory / name
    out.mkdir(parents=True, exist_ok=True)
    version = EXAMPLES[name](out)
    (out / STAMP).write_text(json.dumps({"trained_with": version}), encoding="utf-8")
    log.info("examples: trained %s with %s in %s", name, version, out)
    return out


def ensure_example_models(directory: Path, names: list[str] | None = None) -> dict[str, Path]:
    """Train each example (default: all whose library is installed) unless already current."""
    done: dict[str, Path] = {}
    for name in names or list(EXAMPLES):
        try:
            current = _version_of(name)
        except ImportError:
            if names:
                raise
            log.info("examples: skipping %s (its library is not installed)", name)
            continue
        stamp = directory / name / STAMP
        if stamp.exists() and json.loads(stamp.read_text()).get("trained_with") == current:
            done[name] = directory / name
            continue
        done[name] = train(name, directory)
    return done


class IrisTransformer:
    """Example transformer: named iris features -> the row vectors the predictor expects.

    ``{"instances": [{"sepal_length": 6.8, "sepal_width": 2.8, "petal_length": 4.8,
    "petal_width": 1.4}]}`` becomes ``{"instances": [[6.8, 2.8, 4.8, 1.4]]}``; the server forwards
    it to ``--predictor_host`` and maps class numbers to names on the way back.
    """

    FEATURES = ("sepal_length", "sepal_width", "petal_length", "petal_width")
    CLASSES = ("setosa", "versicolor", "virginica")

    def __init__(self, name: str) -> None:
        self.name = name
        self.ready = False
        self.predictor_host: str | None = None
        self.protocol = "v1"
        self.has_explainer = False

    def load(self) -> bool:
        self.ready = True
        return True

    def preprocess(self, payload: dict[str, Any]) -> dict[str, Any]:
        rows = payload.get("instances") or payload.get("inputs") or []
        return {
            "instances": [
                [float(r[f]) for f in self.FEATURES] if isinstance(r, dict) else r for r in rows
            ]
        }

    def postprocess(self, result: dict[str, Any]) -> dict[str, Any]:
        # V1's predictions, or V2's first output (REST or gRPC, --protocol v2/grpc-v2).
        outputs = result.get("outputs") or [{}]
        predictions = result.get("predictions", outputs[0].get("data", []))
        labels = [self.CLASSES[int(p)] for p in predictions]
        return {"predictions": predictions, "labels": labels}

    def explain(self, payload: Any) -> Any:
        raise NotImplementedError("IrisTransformer has no explainer")
