"""A KServe SDK custom predictor, as a KServe user writes one: doubles every number (V1, and V2
over REST or gRPC)."""

from __future__ import annotations

import argparse
from typing import Any

from kserve import InferOutput, InferRequest, InferResponse, Model, ModelServer, model_server


class Doubler(Model):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.load()

    def load(self) -> bool:
        self.ready = True
        return self.ready

    def predict(self, payload: Any, headers: Any = None) -> Any:
        if isinstance(payload, InferRequest):  # V2 over REST or gRPC
            doubled = 2 * payload.inputs[0].as_numpy()
            data = doubled.flatten().tolist()
            out = InferOutput(
                name="output-0", shape=list(doubled.shape), datatype="FP32", data=data
            )
            return InferResponse(model_name=self.name, infer_outputs=[out], response_id=payload.id)
        return {"predictions": [[2 * x for x in row] for row in payload["instances"]]}


parser = argparse.ArgumentParser(parents=[model_server.parser])
args, _ = parser.parse_known_args()

if __name__ == "__main__":
    ModelServer().start([Doubler(args.model_name)])
