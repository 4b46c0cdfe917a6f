"""A thin wrapper around ``wrk`` (C, ``apt-get install wrk``): a load generator that costs the
machine far less than the server under test, so the server, not the client, is what saturates."""

from __future__ import annotations

import re
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = ["WrkResult", "wrk"]

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


@dataclass(frozen=True)
class WrkResult:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    non_2xx: int


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s)", text)
    if m is None:
        raise ValueError(f"unexpected wrk latency {text!r}")
    return float(m.group(1)) * _UNITS[m.group(2)]


def _lua(method: str, body: bytes | None, headers: Mapping[str, str]) -> str:
    lines = [f'wrk.method = "{method}"']
    if body is not None:
        text = body.decode()
        if "]==]" in text:
            raise ValueError("body cannot be quoted for wrk's Lua")
        lines.append(f"wrk.body = [==[{text}]==]")  # a Lua long string: no escaping needed
    lines += [f'wrk.headers["{k}"] = "{v}"' for k, v in headers.items()]
    return "\n".join(lines) + "\n"


def wrk(
    url: str,
    concurrency: int,
    seconds: float,
    *,
    method: str = "GET",
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
) -> WrkResult:
    """One wrk run; the body (if any) is sent with every request."""
    threads = 1 if concurrency < 10 else 2
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "request.lua"
        script.write_text(_lua(method, body, headers or {}))
        out = subprocess.run(
            ["wrk", f"-t{threads}", f"-c{concurrency}", f"-d{max(1, round(seconds))}s",
             "--latency", "-s", str(script), url],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip

    def grab(pattern: str) -> str:
        m = re.search(pattern, out, re.M)
        if m is None:
            raise ValueError(f"wrk output without {pattern!r}:\n{out}")
        return m.group(1)

    non_2xx = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", out)
    return WrkResult(
        rps=float(grab(r"Requests/sec:\s*([\d.]+)")),
        p50_ms=_ms(grab(r"^\s*50%\s+(\S+)")),
        p99_ms=_ms(grab(r"^\s*99%\s+(\S+)")),
        requests=int(grab(r"^\s*(\d+) requests in")),
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
    )
