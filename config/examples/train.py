"""Train the example iris models (sklearn, XGBoost, LightGBM) from bundled data; no download.

python config/examples/train.py [--out config/examples/models] [--force]
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from minikn.modelserver.examples import EXAMPLES, ensure_example_models, train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "models")
    parser.add_argument("--force", action="store_true", help="retrain even if current")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.force:
        for name in EXAMPLES:
            train(name, args.out)
    else:
        ensure_example_models(args.out)


if __name__ == "__main__":
    main()
