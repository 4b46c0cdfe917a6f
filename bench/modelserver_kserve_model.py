"""KServe's own Python ModelServer serving the iris sklearn model, as its sklearnserver does.

Runs under a separate virtualenv holding the ``kserve`` package (its dependencies conflict with
minikn's); bench/modelserver_vs_kserve.py starts it:

    KSERVE_PY bench/modelserver_kserve_model.py --model_name iris --model_dir DIR --http_port P
"""

from __future__ import annotations

import argparse
import pathlib
from typing import Any

import joblib
import kserve


class SKLearnIris(kserve.Model):  # type: ignore[misc]
    """The same predict path as kserve/sklearnserver's SKLearnModel (V1 instances -> predict)."""

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
        instances = payload["instances"] if "instances" in payload else payload["inputs"]
        return {"predictions": self._model.predict(instances).tolist()}


def main() -> None:
    parser = argparse.ArgumentParser(parents=[kserve.model_server.parser])
    parser.add_argument("--model_dir", required=True)
    args, _ = parser.parse_known_args()
    model = SKLearnIris(args.model_name, args.model_dir)
    model.load()
    kserve.ModelServer(http_port=args.http_port, workers=1, enable_grpc=False).start([model])


if __name__ == "__main__":
    main()
