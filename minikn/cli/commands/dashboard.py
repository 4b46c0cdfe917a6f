"""``minikn dashboard [--no-open]``: print (and open) the live dashboard's URL with the token.

The token travels in the URL's fragment (``#token=...``): a browser sends neither it to the
server nor in a ``Referer``; the page keeps it for the tab and drops it from the address bar.
"""

from __future__ import annotations

import argparse
import os
import urllib.parse
import webbrowser

from minikn.apiserver.client import DEFAULT_SERVER, SERVER_ENV, find_token
from minikn.apiserver.dashboard.routes import DASHBOARD_PATH
from minikn.cli.commands.common import SubParsers, add_client_args, fail

__all__ = ["dashboard_url", "register"]


def register(sub: SubParsers) -> None:
    p = sub.add_parser("dashboard", help="print and open the live web dashboard's URL")
    p.add_argument("--no-open", action="store_true", help="only print the URL")
    add_client_args(p, namespace=False)
    p.set_defaults(func=run)


def dashboard_url(server: str, token: str) -> str:
    """The dashboard's URL on ``server`` with ``token`` in the fragment."""
    base = server.rstrip("/") + DASHBOARD_PATH
    return f"{base}#token={urllib.parse.quote(token, safe='')}"


def run(args: argparse.Namespace) -> int:
    server = args.server or os.environ.get(SERVER_ENV) or DEFAULT_SERVER
    token = find_token()
    if not token:
        return fail(
            "no API token: start `minikn serve` first (it writes <state-dir>/api-token) or set "
            "MINIKN_API_TOKEN"
        )
    url = dashboard_url(server, token)
    print(url, flush=True)
    if not args.no_open:
        webbrowser.open(url, new=2)
    return 0
