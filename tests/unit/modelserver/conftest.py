"""Example models trained once per test session."""

from __future__ import annotations

from pathlib import Path

import pytest

from minikn.modelserver.examples import ensure_example_models


@pytest.fixture(scope="session")
def example_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return ensure_example_models(tmp_path_factory.mktemp("models"))
