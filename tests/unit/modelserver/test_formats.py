"""Each model format, format detection and custom model classes."""

from __future__ import annotations

import asyncio
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from minikn.modelserver.codec import encode_v1, encode_v2
from minikn.modelserver.errors import InvalidInput, ModelMissingError
from minikn.modelserver.formats import build_model, detect_format
from minikn.modelserver.pipeline import Pipeline
from minikn.modelserver.tensors import parse_infer

IRIS = [[6.8, 2.8, 4.8, 1.4], [6.0, 3.4, 4.5, 1.6], [5.1, 3.5, 1.4, 0.2]]


@pytest.mark.parametrize(
    ("name", "fmt"),
    [("sklearn-iris", "sklearn"), ("xgboost-iris", "xgboost"), ("lightgbm-iris", "lightgbm")],
)
def test_detect_format_from_files(example_models: dict[str, Path], name: str, fmt: str) -> None:
    assert detect_format(example_models[name]) == fmt


@pytest.mark.parametrize("name", ["sklearn-iris", "xgboost-iris", "lightgbm-iris"])
def test_each_format_predicts_iris_classes(example_models: dict[str, Path], name: str) -> None:
    model = build_model("iris", example_models[name])
    assert model.load()
    result = model.predict({"instances": IRIS})
    array = np.asarray(result)
    classes = array.argmax(axis=1) if array.ndim == 2 else np.rint(array)
    assert classes.astype(int).tolist() == [1, 1, 0]


def test_lightgbm_bst_is_told_apart_from_xgboost(
    example_models: dict[str, Path], tmp_path: Path
) -> None:
    (tmp_path / "model.bst").write_bytes(
        (example_models["lightgbm-iris"] / "model.bst").read_bytes()
    )
    assert detect_format(tmp_path) == "lightgbm"


def test_two_pickles_are_refused(tmp_path: Path) -> None:
    (tmp_path / "a.pkl").write_bytes(b"x")
    (tmp_path / "b.joblib").write_bytes(b"x")
    with pytest.raises(ModelMissingError, match="more than one"):
        build_model("m", tmp_path).load()


def test_unknown_directory_needs_a_format(tmp_path: Path) -> None:
    (tmp_path / "README").write_text("x")
    with pytest.raises(ModelMissingError, match="--model_format"):
        build_model("m", tmp_path)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"model_class": "nocolon"}, "module:Class"),
        ({"model_class": "no_such_module_xyz:C"}, "no_such_module_xyz"),
        ({"model_format": "pmml"}, "pmml"),
    ],
)
def test_bad_model_arguments(tmp_path: Path, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        build_model("m", tmp_path, **kwargs)


CUSTOM = textwrap.dedent(
    '''
    import asyncio

    class Doubler:
        """A user model: not a subclass, async load, sync and async steps with headers."""

        def __init__(self, name):
            self.name = name
            self.ready = False
            self.predictor_host = None
            self.protocol = "v1"
            self.has_explainer = False

        async def load(self):
            await asyncio.sleep(0)
            self.ready = True
            return True

        def preprocess(self, payload, headers=None):
            if isinstance(payload, dict):
                return [x * 2 for x in payload["instances"]]
            return [x * 2 for x in payload.inputs[0].as_numpy().tolist()]

        async def predict(self, data, headers=None):
            return data

        def postprocess(self, result):
            return result

        def explain(self, payload):
            raise NotImplementedError("no")
    '''
)


async def test_custom_model_class_runs_sync_and_async_steps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "user_model_mod.py").write_text(CUSTOM)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "user_model_mod", raising=False)
    model = build_model("double", None, model_class="user_model_mod:Doubler")
    assert await model.load()  # type: ignore[misc]
    pipeline = Pipeline(model, lambda: pytest.fail("no session needed"))
    assert encode_v1(await pipeline.run({"instances": [1, 2]}, {})) == {"predictions": [2, 4]}
    req = parse_infer(
        "double", b'{"inputs":[{"name":"a","shape":[2],"datatype":"INT64","data":[3,4]}]}', None
    )
    body = encode_v2(await pipeline.run(req, {}), "double", "i")
    assert body["outputs"] == [
        {"name": "output-0", "shape": [2], "datatype": "INT64", "data": [6, 8]}
    ]
    await asyncio.sleep(0)
