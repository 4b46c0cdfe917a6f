"""Kubernetes core/v1 Container dicts -> minikn's ``ContainerSpec``, and the strategic merge and
templating KServe applies to a runtime's container (pure).

Quantities follow Kubernetes' resource.Quantity spelling: CPU in cores or millicores (``500m``),
memory with binary (``Ki``/``Mi``/``Gi``/``Ti``/``Pi``/``Ei``) or decimal (``k``/``M``/``G``/...)
suffixes, or an exponent (``1e9``). Unknown-but-valid core/v1 fields (``livenessProbe``,
``volumeMounts``, ``securityContext``, ...) are ignored, as a local emulator cannot act on them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from minikn.core.errors import InvalidInput
from minikn.core.revision import ContainerSpec, ProbeSpec, ResourceSpec

__all__ = [
    "apply_template",
    "container_from_k8s",
    "merge_container",
    "parse_cpu",
    "parse_memory",
    "probe_from_k8s",
    "with_image_tag",
]

_QUANTITY = re.compile(r"^([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)([A-Za-z]*)$")
_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {
    "": Decimal(1),
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
}
GPU_RESOURCE = "nvidia.com/gpu"


def _quantity(q: str | int | float, what: str) -> Decimal:
    if isinstance(q, bool):
        raise InvalidInput(f"{what}: {q!r} is not a quantity")
    if isinstance(q, int | float):
        value = Decimal(str(q))
    else:
        match = _QUANTITY.match(str(q).strip())
        if match is None:
            raise InvalidInput(f"{what}: {q!r} is not a quantity (use e.g. 500m, 2, 2Gi, 500M)")
        number, suffix = match.groups()
        try:
            base = Decimal(number)
        except InvalidOperation as exc:  # pragma: no cover - the regex admits only numbers
            raise InvalidInput(f"{what}: {q!r} is not a number") from exc
        if suffix in _BINARY:
            value = base * _BINARY[suffix]
        elif suffix in _DECIMAL:
            value = base * _DECIMAL[suffix]
        else:
            raise InvalidInput(f"{what}: {q!r} has an unknown suffix {suffix!r}")
    if value < 0:
        raise InvalidInput(f"{what}: {q!r} must not be negative")
    return value


def parse_cpu(q: str | int | float) -> float:
    """CPU cores: ``"500m"`` -> 0.5, ``"2"`` -> 2.0, ``1.5`` -> 1.5."""
    return float(_quantity(q, "cpu"))


def parse_memory(q: str | int) -> int:
    """Bytes: ``"2Gi"`` -> 2147483648, ``"500M"`` -> 500000000 (fractions round up, as k8s)."""
    value = _quantity(q, "memory")
    whole = int(value)
    return whole + 1 if value > whole else whole


def _resources(res: Any) -> ResourceSpec:
    if res is None:
        return ResourceSpec()
    if not isinstance(res, Mapping):
        raise InvalidInput("resources: must be a mapping with limits/requests")
    limits = res.get("limits") or {}
    requests = res.get("requests") or {}
    if not isinstance(limits, Mapping) or not isinstance(requests, Mapping):
        raise InvalidInput("resources.limits/requests: must be mappings")
    # Requests fall back to limits (Kubernetes defaulting); minikn enforces the limit when set.
    cpu = limits.get("cpu", requests.get("cpu"))
    memory = limits.get("memory", requests.get("memory"))
    gpus = limits.get(GPU_RESOURCE, requests.get(GPU_RESOURCE, 0))
    try:
        gpu_count = int(gpus)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"resources: {GPU_RESOURCE} {gpus!r} is not an integer") from exc
    if gpu_count < 0:
        raise InvalidInput(f"resources: {GPU_RESOURCE} must not be negative")
    return ResourceSpec(
        cpu=None if cpu is None else parse_cpu(cpu),
        memory=None if memory is None else parse_memory(memory),
        gpus=gpu_count,
    )


def _port_of(value: Any, ports: Mapping[str, int], default: int | None) -> int | None:
    if value is None:
        return default
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        if value.isdigit():
            return int(value)
        if value in ports:
            return ports[value]
    raise InvalidInput(f"readinessProbe: port {value!r} is neither a number nor a named port")


def probe_from_k8s(
    probe: Mapping[str, Any], *, named_ports: Mapping[str, int] | None = None
) -> ProbeSpec:
    """A core/v1 Probe (httpGet / tcpSocket / exec) -> ``ProbeSpec``."""
    ports = named_ports or {}
    timing: dict[str, Any] = {
        "initial_delay_seconds": float(probe.get("initialDelaySeconds", 0)),
        "period_seconds": float(probe.get("periodSeconds", 0)),
        "timeout_seconds": float(probe.get("timeoutSeconds", 1)),
        "failure_threshold": int(probe.get("failureThreshold", 3)),
    }
    if "httpGet" in probe:
        http = probe["httpGet"] or {}
        return ProbeSpec(
            kind="http",
            path=str(http.get("path", "/")),
            port=_port_of(http.get("port"), ports, None),
            **timing,
        )
    if "tcpSocket" in probe:
        tcp = probe["tcpSocket"] or {}
        return ProbeSpec(kind="tcp", port=_port_of(tcp.get("port"), ports, None), **timing)
    if "exec" in probe:
        command = (probe["exec"] or {}).get("command") or []
        if not command:
            raise InvalidInput("readinessProbe.exec.command: must not be empty")
        return ProbeSpec(kind="exec", command=tuple(str(c) for c in command), **timing)
    raise InvalidInput("readinessProbe: needs one of httpGet, tcpSocket, exec")


def _strings(value: Any, field: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise InvalidInput(f"{field}: must be a list of strings")
    return tuple(str(v) for v in value)


def _env(value: Any) -> tuple[tuple[str, str], ...]:
    if value is None:
        return ()
    if not isinstance(value, Sequence) or isinstance(value, str):
        raise InvalidInput("env: must be a list of {name, value}")
    out: list[tuple[str, str]] = []
    for item in value:
        if not isinstance(item, Mapping) or not item.get("name"):
            raise InvalidInput(f"env: entry {item!r} needs a name")
        if "valueFrom" in item:
            raise InvalidInput(f"env {item['name']}: valueFrom is not supported; use value")
        raw = item.get("value", "")
        out.append((str(item["name"]), "" if raw is None else str(raw)))
    return tuple(out)


def container_from_k8s(c: Mapping[str, Any], *, default_port: int = 8080) -> ContainerSpec:
    """A core/v1 Container dict -> ``ContainerSpec``; the first ``containerPort`` is the port."""
    if not isinstance(c, Mapping):
        raise InvalidInput("container: must be a mapping")
    named: dict[str, int] = {}
    port = default_port
    raw_ports = c.get("ports") or []
    if not isinstance(raw_ports, Sequence):
        raise InvalidInput("ports: must be a list of {containerPort}")
    for i, p in enumerate(raw_ports):
        if not isinstance(p, Mapping) or "containerPort" not in p:
            raise InvalidInput(f"ports[{i}]: needs containerPort")
        number = _port_of(p["containerPort"], {}, None)
        if number is None or not 0 < number < 65536:
            raise InvalidInput(f"ports[{i}].containerPort: {p['containerPort']!r} is not a port")
        if i == 0:
            port = number
        if p.get("name"):
            named[str(p["name"])] = number
    grpc_port = named.get("h2c", named.get("grpc"))
    probe = c.get("readinessProbe")
    image = c.get("image")
    return ContainerSpec(
        image=None if image in (None, "") else str(image),
        command=_strings(c.get("command"), "command"),
        args=_strings(c.get("args"), "args"),
        env=_env(c.get("env")),
        port=port,
        grpc_port=grpc_port,
        resources=_resources(c.get("resources")),
        readiness_probe=None if not probe else probe_from_k8s(probe, named_ports=named),
        working_dir=c.get("workingDir") or None,
    )


_TEMPLATE = re.compile(r"\{\{\s*\.(Name|Namespace|Labels\.(\w+)|Annotations\.(\w+))\s*\}\}")


def apply_template(
    value: Any, names: Mapping[str, str], labels: Mapping[str, str], annotations: Mapping[str, str]
) -> Any:
    """Replace ``{{.Name}}``, ``{{.Namespace}}``, ``{{.Labels.X}}`` and ``{{.Annotations.X}}`` in
    every string of a container dict (KServe's Go templates over the ISVC metadata)."""
    if isinstance(value, str):

        def sub(m: re.Match[str]) -> str:
            if m.group(2):
                return labels.get(m.group(2), "")
            if m.group(3):
                return annotations.get(m.group(3), "")
            return names[m.group(1)]

        return _TEMPLATE.sub(sub, value)
    if isinstance(value, Mapping):
        return {k: apply_template(v, names, labels, annotations) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [apply_template(v, names, labels, annotations) for v in value]
    return value


def _merge_named(base: Any, over: Any) -> list[Any]:
    """Strategic merge of a list of {name: ...} dicts (env, ports by name): ``over`` wins."""
    merged: dict[str, Any] = {}
    for item in [*(base or []), *(over or [])]:
        key = (
            str(item.get("name") or item.get("containerPort"))
            if isinstance(item, Mapping)
            else str(item)
        )
        merged[key] = item
    return list(merged.values())


def merge_container(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """Strategic merge of core/v1 container dicts as KServe does it: args concatenated (base
    first), env and ports merged by name, resources per key, anything else replaced."""
    out = dict(base)
    for key, value in over.items():
        if value is None:
            continue
        if key == "args":
            out["args"] = [*(base.get("args") or []), *value]
        elif key in ("env", "ports"):
            out[key] = _merge_named(base.get(key), value)
        elif key == "resources":
            res = dict(base.get("resources") or {})
            for part in ("limits", "requests"):
                if value.get(part) is not None:
                    res[part] = {**(res.get(part) or {}), **value[part]}
            out["resources"] = res
        else:
            out[key] = value
    return out


def with_image_tag(image: str, tag: str) -> str:
    """``repo/img:old`` (or ``repo/img``) -> ``repo/img:tag``; a registry port is kept."""
    last = image.rsplit("/", 1)[-1]
    repository = image.rsplit(":", 1)[0] if ":" in last else image
    return f"{repository}:{tag}"
