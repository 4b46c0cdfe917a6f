"""``minikn dashboard``: the URL carries the token in its fragment only, and --no-open opens
nothing."""

from __future__ import annotations

import urllib.parse

import pytest

from minikn.cli.commands.dashboard import dashboard_url
from minikn.cli.main import main


def test_the_token_travels_in_the_fragment_never_in_path_or_query() -> None:
    url = urllib.parse.urlsplit(dashboard_url("http://127.0.0.1:8081/", "a/b+c=d"))
    assert (url.path, url.query) == ("/dashboard/", "")
    assert urllib.parse.unquote(url.fragment.removeprefix("token=")) == "a/b+c=d"


def test_no_open_prints_the_url_and_opens_no_browser(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    opened: list[str] = []
    monkeypatch.setenv("MINIKN_API_TOKEN", "t0k")
    monkeypatch.setattr("webbrowser.open", lambda url, new=0: opened.append(url))
    assert main(["dashboard", "--no-open", "--server", "http://127.0.0.1:9999"]) == 0
    assert capsys.readouterr().out.strip() == "http://127.0.0.1:9999/dashboard/#token=t0k"
    assert opened == []
    assert main(["dashboard", "--server", "http://127.0.0.1:9999"]) == 0
    assert opened == ["http://127.0.0.1:9999/dashboard/#token=t0k"]


def test_without_a_token_it_says_how_to_get_one(
    monkeypatch: pytest.MonkeyPatch, tmp_path: object, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("MINIKN_API_TOKEN", raising=False)
    monkeypatch.setenv("MINIKN_STATE_DIR", str(tmp_path))
    assert main(["dashboard", "--no-open"]) == 1
    assert "minikn serve" in capsys.readouterr().err
