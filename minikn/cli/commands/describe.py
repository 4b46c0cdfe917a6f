"""``minikn describe isvc NAME``: spec summary, revisions, traffic, scaling, conditions, events."""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

from minikn.cli.commands.common import SubParsers, add_client_args, age, client, console, fail
from minikn.core.coldstart import PHASES
from minikn.core.errors import MiniknError

__all__ = ["SCALING_COLUMNS", "register", "scaling_rows"]


def register(sub: SubParsers) -> None:
    p = sub.add_parser("describe", help="show one InferenceService or InferenceGraph in detail")
    p.add_argument("resource", choices=("isvc", "inferenceservice", "ig", "inferencegraph"))
    p.add_argument("name")
    add_client_args(p)
    p.set_defaults(func=run)


def _target(step: dict[str, Any]) -> str:
    for key in ("serviceName", "nodeName", "serviceUrl"):
        if step.get(key):
            return f"{key}={step[key]}"
    return "?"


def _graph_lines(spec: dict[str, Any]) -> list[str]:
    """One line per node, then one per step (name, target, weight, condition, dependency)."""
    lines = []
    raw = spec.get("nodes")
    nodes: dict[str, Any] = raw if isinstance(raw, dict) else {}
    for name, node in sorted(nodes.items(), key=lambda kv: (kv[0] != "root", kv[0])):
        lines.append(f"  {name}: {node.get('routerType')}")
        for i, step in enumerate(node.get("steps") or []):
            extras = [
                f"{k}={step[k]}" for k in ("weight", "condition", "data", "dependency") if k in step
            ]
            label = step.get("name") or str(i)
            lines.append(f"    - {label}: {_target(step)} {' '.join(extras)}".rstrip())
    for key in ("minReplicas", "maxReplicas", "scaleTarget", "scaleMetric", "timeout"):
        if key in spec:
            lines.append(f"  {key}: {spec[key]}")
    return lines


def _spec_lines(spec: dict[str, Any]) -> list[str]:
    if "nodes" in spec:
        return _graph_lines(spec)
    lines = []
    for comp in ("predictor", "transformer", "explainer", "default", "canary"):
        body = spec.get(comp)
        if not isinstance(body, dict):
            continue
        impl = [k for k in body if isinstance(body[k], dict) and k not in ("logger", "batcher")]
        what = ", ".join(impl) or ("containers" if "containers" in body else "?")
        extras = [
            f"{k}={body[k]}"
            for k in ("minReplicas", "maxReplicas", "canaryTrafficPercent", "containerConcurrency")
            if k in body
        ]
        lines.append(f"  {comp}: {what} {' '.join(extras)}".rstrip())
    return lines


SCALING_COLUMNS = (
    "REVISION", "DESIRED", "READY", "PENDING", "STABLE", "PANIC", "TARGET", "PANIC MODE", "EBC",
    "LAST CHANGE",
)  # fmt: skip


def scaling_rows(revisions: dict[str, Any]) -> list[tuple[str, ...]]:
    """One row per live revision from ``status.revisions`` (replicas + autoscaler), pure."""
    rows: list[tuple[str, ...]] = []
    for name, info in sorted(revisions.items()):
        reps = info.get("replicas") or {}
        auto = info.get("autoscaler") or {}
        reason = str(auto.get("reason") or "")
        if reps.get("reason"):
            reason = f"{reps['reason']}: {reps.get('message') or ''}".strip()
        rows.append(
            (
                name,
                str(reps.get("desired", auto.get("desired", ""))),
                str(reps.get("ready", "")),
                str(reps.get("pending", "")),
                _average(auto["stable"]) if "stable" in auto else "",
                _average(auto["panic"]) if "panic" in auto else "",
                f"{auto['target']:g}" if "target" in auto else "",
                ("yes" if auto["panic_mode"] else "no") if "panic_mode" in auto else "",
                f"{auto['excess_burst_capacity']:g}" if "excess_burst_capacity" in auto else "",
                reason,
            )
        )
    return rows


def _average(value: float) -> str:
    """Two decimals, never ``-0.00`` (a float's rounding noise around zero)."""
    text = f"{value:.2f}"
    return "0.00" if text == "-0.00" else text


def run(args: argparse.Namespace) -> int:
    api = client(args)
    ns, name = args.namespace, args.name
    graph = args.resource in ("ig", "inferencegraph")
    plural = "inferencegraphs" if graph else "inferenceservices"
    base = f"/api/v1/namespaces/{ns}/{plural}/{name}"
    try:
        item = api.request("GET", (api.graph_path if graph else api.isvc_path)(ns, name))
        revisions = api.request("GET", f"{base}/revisions")["items"]
        events = api.request("GET", f"{base}/events")["items"]
    except MiniknError as exc:
        return fail(exc.message)
    out = console()
    status = item.get("status") or {}
    _print_summary(out, item, status)
    out.print(_revisions_table(revisions))
    scaling = scaling_rows(status.get("revisions") or {})
    if scaling:
        out.print(_table("Scaling", SCALING_COLUMNS, scaling))
    cold = cold_start_rows(status.get("revisions") or {})
    if cold:
        out.print(_table("Last cold start (seconds)", COLD_START_COLUMNS, cold))
    out.print(_conditions_table(status))
    out.print(_events_table(events))
    return 0


COLD_START_COLUMNS = ("REVISION", "REPLICA", *PHASES, "TOTAL")


def cold_start_rows(revisions: dict[str, Any]) -> list[tuple[str, ...]]:
    """Per revision, its last cold start's phases (``status.revisions[r].coldStart``), pure."""
    rows: list[tuple[str, ...]] = []
    for name, info in sorted(revisions.items()):
        cold = info.get("coldStart")
        if not isinstance(cold, dict):
            continue
        phases = cold.get("phases") or {}
        cells = [f"{phases[p]:.3f}" if p in phases else "-" for p in PHASES]
        total = sum(float(v) for v in phases.values())
        rows.append((name, str(cold.get("replica", "")), *cells, f"{total:.3f}"))
    return rows


def _print_summary(out: Console, item: dict[str, Any], status: dict[str, Any]) -> None:
    meta = item.get("metadata") or {}
    out.print(f"Name:        {meta.get('name')}")
    out.print(f"Namespace:   {meta.get('namespace')}")
    out.print(f"API version: {item.get('apiVersion')}")
    out.print(f"URL:         {status.get('url')}")
    if status.get("deploymentMode"):
        out.print(f"Deployment:  {status['deploymentMode']}")
    out.print(f"Age:         {age(meta.get('creationTimestamp'))}")
    out.print("Spec:")
    for line in _spec_lines(item.get("spec") or {}):
        out.print(line)


def _table(title: str, columns: Sequence[str], rows: Iterable[Sequence[str]]) -> Table:
    table = Table(title=title, box=None, title_justify="left")
    for col in columns:
        table.add_column(col)
    for row in rows:
        table.add_row(*row)
    return table


def _revision_row(r: dict[str, Any]) -> tuple[str, ...]:
    spec = r["spec"]
    model = spec.get("model") or {}
    runtime = model.get("runtime") or spec["container"].get("image") or ""
    failure = r["failure"]
    return (
        r["name"],
        r["component"],
        "True" if r["ready"] else "False",
        f"{r['percent']}%",
        ",".join(r["tags"]),
        runtime,
        f"{failure['reason']}: {failure['message']}" if failure else "",
    )


def _revisions_table(revisions: list[dict[str, Any]]) -> Table:
    return _table(
        "Revisions",
        ("NAME", "COMPONENT", "READY", "TRAFFIC", "TAGS", "IMAGE / RUNTIME", "FAILURE"),
        (_revision_row(r) for r in revisions),
    )


def _conditions_table(status: dict[str, Any]) -> Table:
    return _table(
        "Conditions",
        ("TYPE", "STATUS", "REASON", "MESSAGE", "SINCE"),
        (
            (
                c["type"],
                c["status"],
                c.get("reason", ""),
                c.get("message", ""),
                age(c.get("lastTransitionTime")),
            )
            for c in status.get("conditions", [])
        ),
    )


def _events_table(events: list[dict[str, Any]]) -> Table:
    return _table(
        "Events",
        ("TYPE", "REASON", "REVISION", "MESSAGE"),
        ((e["type"], e["reason"], e.get("revision") or "", e["message"]) for e in events),
    )
