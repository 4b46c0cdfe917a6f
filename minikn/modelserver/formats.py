"""Built-in model formats (as KServe's sklearnserver, xgbserver and lgbserver) and custom classes.

Each framework is an optional import: a missing extra is a clear error naming the pip extra.

Input the model refuses is the caller's error, 400 with the framework's own words (a wrong
feature count, strings, NaN, ragged rows, a 4-D array): scikit-learn's input checks raise
``ValueError``/``TypeError``, and the boosters' matrices are checked here before they are
built. KServe's servers answer 500 (``InferenceError``) for these; the protocol's "bad input is
400" is followed instead. A failure inside the framework stays 500.

V2 inputs of any numeric datatype are accepted and cast (FP32 or FP64 alike); the metadata
advertises the datatype the framework computes in: FP64 for scikit-learn (FP32 for its tree
models), FP32 for XGBoost, FP64 for LightGBM.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from minikn.modelserver.errors import InferenceError, InvalidInput, ModelMissingError
from minikn.modelserver.model import Model, predict_input, wants_proba
from minikn.modelserver.sklearn_fast import FastPredict, linear_predictor

__all__ = ["FORMATS", "build_model", "detect_format"]

log = logging.getLogger("minikn.modelserver")

FORMATS: dict[str, tuple[str, ...]] = {
    "sklearn": (".joblib", ".pkl", ".pickle"),
    "xgboost": (".bst", ".json", ".ubj"),
    "lightgbm": (".bst", ".txt"),
}
_EXTRA = {"sklearn": "sklearn", "xgboost": "xgboost", "lightgbm": "lightgbm"}


def _import(module: str, fmt: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ModelMissingError(
            f"the {fmt} model format needs {module!r}: pip install 'minikn[{_EXTRA[fmt]}]'"
        ) from exc


def _files(model_dir: Path) -> list[Path]:
    if not model_dir.is_dir():
        raise ModelMissingError(f"model directory {model_dir} does not exist")
    return [p for p in model_dir.iterdir() if p.is_file() and not p.name.startswith(".")]


def _model_file(model_dir: Path, fmt: str) -> Path:
    files = sorted(p for p in _files(model_dir) if p.suffix in FORMATS[fmt])
    if not files:
        raise ModelMissingError(f"no {fmt} model file ({', '.join(FORMATS[fmt])}) in {model_dir}")
    if len(files) > 1:
        raise ModelMissingError(
            f"more than one {fmt} model file in {model_dir}: {', '.join(p.name for p in files)}"
        )
    return files[0]


def detect_format(model_dir: Path) -> str:
    """Guess the format from the files: pickles -> sklearn, .ubj/.json -> xgboost, .txt ->
    lightgbm; a ``.bst`` is told apart by its content (LightGBM's text starts with ``tree``)."""
    suffixes = {p.suffix: p for p in _files(model_dir)}
    if any(s in suffixes for s in FORMATS["sklearn"]):
        return "sklearn"
    if ".ubj" in suffixes or ".json" in suffixes:
        return "xgboost"
    if ".txt" in suffixes:
        return "lightgbm"
    if ".bst" in suffixes:
        with suffixes[".bst"].open("rb") as f:
            head = f.read(4)
        return "lightgbm" if head == b"tree" else "xgboost"
    raise ModelMissingError(f"cannot tell the model format of {model_dir}; pass --model_format")


class _FileModel(Model):
    fmt = ""

    def __init__(self, name: str, model_dir: Path) -> None:
        super().__init__(name)
        self.model_dir = model_dir
        self._model: Any = None

    def _run(self, instances: Any, proba: bool) -> Any:
        raise NotImplementedError

    def _check(self, instances: Any) -> Any:
        """The input as the framework takes it, or ``InvalidInput``; as is by default."""
        return instances

    def predict(self, payload: Any, headers: Mapping[str, str] | None = None) -> Any:
        instances = self._check(predict_input(payload))
        try:
            return self._run(instances, wants_proba(payload))
        except (ValueError, TypeError) as exc:  # the framework refused the input
            raise InvalidInput(str(exc)) from exc
        except Exception as exc:  # the framework's own failure: KServe answers 500
            raise InferenceError(str(exc)) from exc

    def _datatype(self) -> str:
        return "FP64"

    def _features(self) -> int | None:
        return None

    def input_metadata(self) -> list[dict[str, Any]]:
        n = self._features()
        return [{"name": "input-0", "datatype": self._datatype(), "shape": [-1, n or -1]}]


def _numeric_matrix(instances: Any, features: int, dtype: str) -> Any:
    """A booster's input: a 2-D numeric array with ``features`` columns, else ``InvalidInput``."""
    try:
        array = np.asarray(instances, dtype=dtype)
    except (ValueError, TypeError, OverflowError) as exc:
        raise InvalidInput(f"instances must be rows of numbers: {exc}") from exc
    if array.ndim != 2:
        raise InvalidInput(f"Expected 2D array, got {array.ndim}D array instead")
    if array.shape[1] != features:
        raise InvalidInput(
            f"X has {array.shape[1]} features, but the model is expecting {features} features"
            " as input."
        )
    return array


def _limit_blas_threads(nthread: int) -> None:
    """Cap BLAS/OpenMP pools at ``nthread`` (``--nthread``, 1 by default, as KServe's xgbserver
    and lgbserver run their boosters): a replica answers many small requests, and idle BLAS
    threads spinning after each one take CPU from the event loop. Scale with replicas instead."""
    try:
        from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]
    except ImportError:  # pragma: no cover - a scikit-learn dependency
        return
    threadpool_limits(limits=nthread)


class SKLearnModel(_FileModel):
    fmt = "sklearn"

    def __init__(self, name: str, model_dir: Path, nthread: int = 1) -> None:
        super().__init__(name, model_dir)
        self.nthread = nthread
        self._fast: FastPredict | None = None

    def load(self) -> bool:
        joblib = _import("joblib", self.fmt)
        _limit_blas_threads(self.nthread)
        path = _model_file(self.model_dir, self.fmt)
        self._model = joblib.load(path)
        self._fast = linear_predictor(self._model)
        log.info("model %s: loaded sklearn model %s", self.name, path.name)
        self.ready = True
        return True

    def _run(self, instances: Any, proba: bool) -> Any:
        if proba and hasattr(self._model, "predict_proba"):
            return self._model.predict_proba(instances)
        if self._fast is not None:  # a linear classifier on a plain float matrix
            classes = self._fast(instances)
            if classes is not None:
                return classes
        return self._model.predict(instances)

    def _features(self) -> int | None:
        n = getattr(self._model, "n_features_in_", None)
        return None if n is None else int(n)

    def _datatype(self) -> str:
        # scikit-learn's trees (and forests of them) compute in float32, the rest in float64.
        estimator = self._model
        steps = getattr(estimator, "steps", None)
        if steps:
            estimator = steps[-1][1]
        trees = [estimator, *getattr(estimator, "estimators_", [])]
        return "FP32" if any(hasattr(t, "tree_") for t in trees) else "FP64"


class XGBoostModel(_FileModel):
    fmt = "xgboost"

    def __init__(self, name: str, model_dir: Path, nthread: int = 1) -> None:
        super().__init__(name, model_dir)
        self.nthread = nthread

    def load(self) -> bool:
        xgb = _import("xgboost", self.fmt)
        path = _model_file(self.model_dir, self.fmt)
        booster = xgb.Booster(params={"nthread": self.nthread})
        booster.load_model(str(path))
        self._model = booster
        self._xgb = xgb
        self.ready = True
        return True

    def _features(self) -> int | None:
        return int(self._model.num_features())

    def _datatype(self) -> str:
        return "FP32"  # a DMatrix holds float32

    def _check(self, instances: Any) -> Any:
        return _numeric_matrix(instances, self._model.num_features(), "float32")

    def _run(self, instances: Any, proba: bool) -> Any:
        return self._model.predict(self._xgb.DMatrix(instances, nthread=self.nthread))


class LightGBMModel(_FileModel):
    fmt = "lightgbm"

    def __init__(self, name: str, model_dir: Path, nthread: int = 1) -> None:
        super().__init__(name, model_dir)
        self.nthread = nthread

    def load(self) -> bool:
        lgb = _import("lightgbm", self.fmt)
        path = _model_file(self.model_dir, self.fmt)
        self._model = lgb.Booster(model_file=str(path))
        self.ready = True
        return True

    def _features(self) -> int | None:
        return int(self._model.num_feature())

    def _check(self, instances: Any) -> Any:
        return _numeric_matrix(instances, self._model.num_feature(), "float64")

    def _run(self, instances: Any, proba: bool) -> Any:
        return self._model.predict(instances, num_threads=self.nthread)


_CLASSES: dict[str, type[SKLearnModel | XGBoostModel | LightGBMModel]] = {
    "sklearn": SKLearnModel,
    "xgboost": XGBoostModel,
    "lightgbm": LightGBMModel,
}


def _custom_class(spec: str) -> type[Model]:
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise InvalidInput(f"--model_class {spec!r}: use module:Class")
    try:
        cls = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise InvalidInput(f"--model_class {spec!r}: {exc}") from exc
    if not isinstance(cls, type):
        raise InvalidInput(f"--model_class {spec!r} is not a class")
    return cls


def build_model(
    name: str,
    model_dir: Path | None,
    *,
    model_format: str | None = None,
    model_class: str | None = None,
    nthread: int = 1,
) -> Model:
    """The model object for the command line: a custom class, else a file format."""
    if model_class:
        cls = _custom_class(model_class)
        model: Model = cls(name)
        if model_dir is not None and not hasattr(model, "model_dir"):
            model.model_dir = model_dir  # type: ignore[attr-defined]
        return model
    if model_dir is None:
        raise InvalidInput("--model_dir is required unless --model_class is given")
    fmt = model_format or detect_format(model_dir)
    if fmt not in _CLASSES:
        raise InvalidInput(f"--model_format {fmt!r}: expected one of {', '.join(_CLASSES)}")
    return _CLASSES[fmt](name, model_dir, nthread)
