"""A KServe SDK transformer, as a KServe user writes one: adds one before the predictor and labels
the answer after it; the predictor is wherever ``--predictor_host`` says (KServe passes it)."""

from __future__ import annotations

import argparse
from typing import Any

from kserve import Model, ModelServer, model_server


class AddOne(Model):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.ready = True

    def preprocess(self, payload: Any, headers: Any = None) -> Any:
        return {"instances": [[x + 1 for x in row] for row in payload["instances"]]}

    def postprocess(self, result: Any, headers: Any = None, response_headers: Any = None) -> Any:
        return {"predictions": result["predictions"], "transformed_by": self.name}


parser = argparse.ArgumentParser(parents=[model_server.parser])
args, _ = parser.parse_known_args()

if __name__ == "__main__":
    ModelServer().start([AddOne(args.model_name)])
