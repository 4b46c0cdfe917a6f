"""Which Origin may send a mutating API request: its own only on loopback, listed ones anywhere."""

from __future__ import annotations

import pytest

from minikn.apiserver.rest import origin_allowed

OWN = "http://127.0.0.1:8081"


@pytest.mark.parametrize(
    ("origin", "bind_host", "allowed", "expected"),
    [
        pytest.param(OWN, "127.0.0.1", [], True, id="own-on-loopback"),
        pytest.param("HTTP://127.0.0.1:8081/", "127.0.0.1", [], True, id="own-case-slash"),
        pytest.param("http://evil.example", "127.0.0.1", [], False, id="foreign-on-loopback"),
        pytest.param("null", "127.0.0.1", [], False, id="null-on-loopback"),
        pytest.param(OWN, "0.0.0.0", [], False, id="own-beyond-loopback-is-a-rebound-page"),
        pytest.param(OWN, "0.0.0.0", [OWN], True, id="listed-beyond-loopback"),
        pytest.param("http://ui.lan:3000", "::", ["http://ui.lan:3000"], True, id="listed-v6"),
        pytest.param("http://ui.lan:3001", "0.0.0.0", ["http://ui.lan:3000"], False, id="port"),
    ],
)
def test_origin_allowed(origin: str, bind_host: str, allowed: list[str], expected: bool) -> None:
    assert origin_allowed(origin, own=OWN, bind_host=bind_host, allowed=allowed) is expected
