"""A ``--model_class`` for the gRPC tests: echoes every input tensor back, datatype, shape,
parameters and all, as ``echo-<name>``, and the request's parameters as the response's."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from minikn.modelserver.model import Model
from minikn.modelserver.tensors import InferRequest


class Echo(Model):
    def predict(self, payload: Any, headers: Mapping[str, str] | None = None) -> Any:
        assert isinstance(payload, InferRequest)
        parameters = dict(payload.parameters)
        if headers and "x-echo" in headers:
            parameters["x-echo"] = headers["x-echo"]
        return {
            "id": payload.id,
            "parameters": parameters,
            "outputs": [
                {
                    "name": f"echo-{t.name}",
                    "shape": t.shape,
                    "datatype": t.datatype,
                    "parameters": t.parameters,
                    "data": t.data,
                }
                for t in payload.inputs
            ],
        }
