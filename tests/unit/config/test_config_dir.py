"""The shipped config is found in a checkout, in an install, or where MINIKN_CONFIG_DIR says."""

from __future__ import annotations

from pathlib import Path

import pytest

from minikn.config.paths import CONFIG_DIR_ENV, config_dir


def test_a_source_checkout_uses_its_own_config_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(CONFIG_DIR_ENV, raising=False)
    found = config_dir()
    assert (found / "runtimes").is_dir()
    assert (found / "minikn.yaml").is_file()
    assert found == Path(__file__).resolve().parents[3] / "config"


def test_the_environment_variable_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(CONFIG_DIR_ENV, str(tmp_path))
    assert config_dir() == tmp_path
