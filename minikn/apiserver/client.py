"""A small blocking client of the control-plane API for the CLI (standard library only)."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from minikn.core.errors import MiniknError

__all__ = ["DEFAULT_SERVER", "SERVER_ENV", "TOKEN_FILE", "ApiClient", "ApiError", "find_token"]

SERVER_ENV = "MINIKN_SERVER"
DEFAULT_SERVER = "http://127.0.0.1:8081"
TOKEN_ENV = "MINIKN_API_TOKEN"
STATE_DIR_ENV = "MINIKN_STATE_DIR"
TOKEN_FILE = "api-token"
"""``minikn serve`` writes its API token here in its state dir (mode 0600)."""


def find_token(state_dir: Path | None = None) -> str | None:
    """The API token the way the CLI finds it: ``$MINIKN_API_TOKEN``, else the file ``minikn
    serve`` wrote in ``state_dir`` (default ``$MINIKN_STATE_DIR`` or ``~/.minikn``)."""
    if env := os.environ.get(TOKEN_ENV):
        return env
    if state_dir is None:
        env_dir = os.environ.get(STATE_DIR_ENV)
        state_dir = Path(env_dir) if env_dir else Path.home() / ".minikn"
    try:
        return (state_dir / TOKEN_FILE).read_text().strip() or None
    except OSError:
        return None


class ApiError(MiniknError):
    """The API answered an error (``status`` is its HTTP code) or could not be reached."""

    def __init__(self, message: str, *, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


LIST_PAGE_SIZE = 500
"""Items per page when the CLI lists (kubectl's default ``--chunk-size``)."""


class ApiClient:
    def __init__(
        self, server: str | None = None, token: str | None = None, timeout: float = 30.0
    ) -> None:
        self.server = (server or os.environ.get(SERVER_ENV) or DEFAULT_SERVER).rstrip("/")
        self.token = token if token is not None else find_token()
        self.timeout = timeout

    def _open(
        self, method: str, path: str, body: str | None, content_type: str, timeout: float | None
    ) -> Any:
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = content_type
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        req = urllib.request.Request(
            self.server + path,
            data=body.encode() if body is not None else None,
            method=method,
            headers=headers,
        )
        try:
            return urllib.request.urlopen(req, timeout=timeout)
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            try:
                message = json.loads(raw).get("message") or json.loads(raw).get("error")
            except (ValueError, AttributeError):
                message = raw.decode(errors="replace") or exc.reason
            raise ApiError(str(message), status=exc.code) from exc
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ApiError(
                f"cannot reach the minikn API at {self.server} ({reason}); is `minikn serve` "
                f"running? (set --server or {SERVER_ENV})"
            ) from exc

    def request(
        self,
        method: str,
        path: str,
        *,
        body: str | None = None,
        content_type: str = "application/yaml",
    ) -> Any:
        with self._open(method, path, body, content_type, self.timeout) as resp:
            return json.loads(resp.read() or b"null")

    def list_items(self, path: str, *, page_size: int = LIST_PAGE_SIZE) -> list[Any]:
        """Every item of the list at ``path``, fetched ``page_size`` at a time (``limit`` and
        ``continue``, as kubectl's ``--chunk-size``)."""
        items: list[Any] = []
        token = ""
        while True:
            query = {"limit": str(page_size)}
            if token:
                query["continue"] = token
            data = self.request("GET", f"{path}?{urllib.parse.urlencode(query)}")
            items.extend(data.get("items") or [])
            token = (data.get("metadata") or {}).get("continue") or ""
            if not token:
                return items

    def text(self, path: str) -> str:
        """GET ``path`` as text (``/metrics``)."""
        with self._open("GET", path, None, "", self.timeout) as resp:
            return str(resp.read().decode(errors="replace"))

    def stream_lines(self, path: str) -> Iterator[str]:
        """GET ``path`` and yield its body line by line as it arrives (no read timeout)."""
        with self._open("GET", path, None, "", None) as resp:
            for raw in resp:
                yield raw.decode(errors="replace")

    def graph_path(self, namespace: str | None, name: str | None = None) -> str:
        if namespace is None:
            return "/apis/serving.kserve.io/v1alpha1/inferencegraphs"
        base = f"/apis/serving.kserve.io/v1alpha1/namespaces/{namespace}/inferencegraphs"
        return f"{base}/{name}" if name else base

    def isvc_path(self, namespace: str | None, name: str | None = None) -> str:
        if namespace is None:
            return "/apis/serving.kserve.io/v1beta1/inferenceservices"
        base = f"/apis/serving.kserve.io/v1beta1/namespaces/{namespace}/inferenceservices"
        return f"{base}/{name}" if name else base
