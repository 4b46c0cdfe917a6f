"""The shipped config/minikn.yaml is exactly the defaults; bad keys and values are named."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from minikn.config import ConfigError, Settings, load_settings
from minikn.config.loader import default_config_path


def test_shipped_yaml_equals_the_defaults() -> None:
    assert load_settings(default_config_path()) == Settings()


def test_shipped_yaml_lists_every_key() -> None:
    shipped = yaml.safe_load(default_config_path().read_text())
    assert shipped == Settings().model_dump(mode="json", by_alias=True)


def test_no_path_gives_defaults() -> None:
    assert load_settings(None) == Settings()


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "minikn.yaml"
    p.write_text(text)
    return p


@pytest.mark.parametrize(
    ("text", "key", "rule"),
    [
        pytest.param(
            "config-autoscaler:\n  stable-windw: 60s\n",
            "config-autoscaler.stable-windw",
            "unknown key",
            id="unknown-key",
        ),
        pytest.param("bogus-group: {}\n", "bogus-group", "unknown key", id="unknown-group"),
        pytest.param(
            "config-autoscaler:\n  stable-window: 2s\n",
            "config-autoscaler.stable-window",
            "between 6s and 1h",
            id="window-range",
        ),
        pytest.param(
            "config-autoscaler:\n  max-scale-up-rate: 1\n",
            "config-autoscaler.max-scale-up-rate",
            "greater than 1.0",
            id="rate",
        ),
        pytest.param(
            "config-defaults:\n  revision-timeout-seconds: 0\n",
            "config-defaults.revision-timeout-seconds",
            "greater than or equal to 1",
            id="timeout",
        ),
        pytest.param(
            "config-autoscaler:\n  stable-window: soon\n",
            "config-autoscaler.stable-window",
            "is not a duration",
            id="bad-duration",
        ),
        pytest.param(
            "inferenceservice-config:\n  ingress:\n    urlScheme: ftp\n",
            "inferenceservice-config.ingress.urlScheme",
            "'http' or 'https'",
            id="scheme",
        ),
    ],
)
def test_bad_config_names_key_and_rule(tmp_path: Path, text: str, key: str, rule: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(_write(tmp_path, text))
    message = str(info.value)
    assert f"{key}:" in message, message
    assert rule in message, message


def test_override_keeps_other_defaults(tmp_path: Path) -> None:
    s = load_settings(
        _write(tmp_path, "inferenceservice-config:\n  ingress:\n    ingressDomain: local.test\n")
    )
    assert s.kserve.ingress.ingress_domain == "local.test"
    assert s.autoscaler == Settings().autoscaler


def test_not_yaml_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_settings(_write(tmp_path, "a: [1\n"))
