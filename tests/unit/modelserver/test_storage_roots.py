"""Default storage roots do not follow the directory ``minikn serve`` was started from."""

from __future__ import annotations

from pathlib import Path

import pytest

from minikn.config.local import StorageConfig
from minikn.config.paths import config_dir
from minikn.core.errors import InvalidInput
from minikn.modelserver.storage.sources import default_roots, local_source

EXAMPLE = config_dir() / "examples" / "sklearn-iris.yaml"


@pytest.mark.parametrize("cwd", ["/", "/etc"])
def test_default_roots_are_the_shipped_examples_wherever_the_server_starts(
    cwd: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(cwd)
    assert default_roots(StorageConfig()) == [(config_dir() / "examples").resolve()]
    with pytest.raises(InvalidInput, match="outside the allowed roots"):
        local_source("file:///etc/passwd", StorageConfig())
    assert local_source(f"file://{EXAMPLE}", StorageConfig()) == EXAMPLE.resolve()


def test_configured_roots_replace_the_default(tmp_path: Path) -> None:
    config = StorageConfig.model_validate({"allowedRoots": [str(tmp_path)]})
    assert default_roots(config) == [tmp_path.resolve()]
    with pytest.raises(InvalidInput, match="outside the allowed roots"):
        local_source(f"file://{EXAMPLE}", config)
