"""Wire the Kubernetes API into the API application: discovery, core, ISVCs, InferenceGraphs,
Knative, OpenAPI."""

from __future__ import annotations

import time
from collections.abc import Callable

from aiohttp import web

from minikn.api.convert import V1ALPHA2, V1BETA1
from minikn.apiserver.kube import discovery
from minikn.apiserver.kube.context import HUB, KCTL, NOW
from minikn.apiserver.kube.core import core_routes
from minikn.apiserver.kube.hub import ObjectHub
from minikn.apiserver.kube.isvc import graph_routes, isvc_routes
from minikn.apiserver.kube.knative_view import knative_routes
from minikn.apiserver.kube.objects import KubeError
from minikn.apiserver.kube.openapi import openapi_routes
from minikn.controlplane.controller import Controller

__all__ = ["install_kube_api"]


async def _version(request: web.Request) -> web.Response:
    return web.json_response(discovery.version_info())


async def _api(request: web.Request) -> web.Response:
    return web.json_response(discovery.api_versions(request.host))


async def _apis(request: web.Request) -> web.Response:
    return web.json_response(discovery.api_group_list())


async def _group(request: web.Request) -> web.Response:
    body = discovery.api_group(request.match_info["group"])
    if body is None:
        raise KubeError(404, "NotFound", "the server could not find the requested resource")
    return web.json_response(body)


async def _core_resources(request: web.Request) -> web.Response:
    return web.json_response(discovery.resource_list("v1"))


async def _resources(request: web.Request) -> web.Response:
    gv = f"{request.match_info['group']}/{request.match_info['version']}"
    body = discovery.resource_list(gv)
    if body is None:
        raise KubeError(404, "NotFound", "the server could not find the requested resource")
    return web.json_response(body)


def install_kube_api(
    app: web.Application, controller: Controller, *, now: Callable[[], float] = time.time
) -> None:
    """Add the Kubernetes API's routes and state to ``app``."""
    app[KCTL] = controller
    app[HUB] = ObjectHub(controller, first_rv=int(now() * 1_000_000))
    app[NOW] = now
    app.add_routes(
        [
            web.get("/version", _version),
            web.get("/api", _api),
            web.get("/api/v1", _core_resources),
            web.get("/apis", _apis),
            web.get("/apis/{group}", _group),
            *core_routes(),
            *isvc_routes(V1BETA1),
            *isvc_routes(V1ALPHA2),
            *graph_routes(),
            *knative_routes(),
            *openapi_routes(),
            web.get("/apis/{group}/{version}", _resources),
        ]
    )
