"""KServe's own Python ModelServer serving the iris sklearn model, as its sklearnserver does.

Runs under a separate virtualenv holding the ``kserve`` package (its dependencies conflict with
minikn's); bench/modelserver_vs_kserve.py starts it:

    KSERVE_PY bench/modelserver_kserve_model.py --model_name iris --model_dir DIR --http_port P
        [--grpc_port G]

With ``--grpc_port`` KServe's gRPC server (``inference.GRPCInferenceService``) listens there too
(bench/modelserver_grpc_vs_kserve.py); without it only REST.
"""

from __future__ import annotations

import argparse
import pathlib
from typing import Any

import joblib
import kserve
from kserve.utils.utils import get_predict_input, get_predict_response


class SKLearnIris(kserve.Model):  # type: ignore[misc]
    """The same predict path as kserve/sklearnserver's SKLearnModel: V1 instances or a V2/gRPC
    ``InferRequest`` -> ``predict`` -> the matching response type."""

    def __init__(self, name: str, model_dir: str) -> None:
        super().__init__(name)
        self.model_dir = model_dir
        self._model: Any = None

    def load(self) -> bool:
        path = next(pathlib.Path(self.model_dir).glob("*.joblib"))
        self._model = joblib.load(path)
        self.ready = True
        return True

    def predict(self, payload: Any, headers: Any = None) -> Any:
        instances = get_predict_input(payload)
        return get_predict_response(payload, self._model.predict(instances), self.name)


def main() -> None:
    parser = argparse.ArgumentParser(parents=[kserve.model_server.parser])
    parser.add_argument("--model_dir", required=True)
    parser.set_defaults(grpc_port=0)  # no gRPC unless asked for
    args, _ = parser.parse_known_args()
    model = SKLearnIris(args.model_name, args.model_dir)
    model.load()
    grpc = args.grpc_port > 0
    server = kserve.ModelServer(
        http_port=args.http_port, grpc_port=args.grpc_port or 8081, workers=1, enable_grpc=grpc
    )
    server.start([model])


if __name__ == "__main__":
    main()
