"""Replicas as local processes: the built-in model server, or a custom container's command.

Each replica runs in a new process group with its output in a log file and a pid file in the
state directory (so a restarted platform can adopt it); stop ends the whole process tree. The pid
file names the platform (its state dir's :func:`platform_id`): a state dir copied elsewhere does
not adopt or remove the original's replicas.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import json
import logging
import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import psutil

from minikn.config.local import ProcessImage
from minikn.core.revision import MODEL_MOUNT, RevisionSpec
from minikn.core.usage import ResourceUsage
from minikn.replicas.backend import LABEL_GPUS, platform_id, replica_env, replica_labels
from minikn.replicas.logtail import follow_file
from minikn.replicas.types import LABEL_PLATFORM, ReplicaExit, ReplicaHandle, ReplicaStartError

__all__ = ["HostImage", "ProcessBackend", "host_image", "image_entry", "process_command"]

log = logging.getLogger("minikn.replicas.process")

EXIT_POLL = 0.1
"""How often exits are checked (well within the one-second promise)."""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _rewrite_args(args: Sequence[str], model_dir: Path | None) -> list[str]:
    """The container's args on the host: the model mount as ``model_dir`` (pure)."""
    return [a.replace(MODEL_MOUNT, str(model_dir)) for a in args] if model_dir else list(args)


def _flag(argv: Sequence[str], flag: str) -> str | None:
    """The value of ``flag V`` or ``flag=V`` in ``argv`` (the last one), else None (pure)."""
    value = None
    for i, arg in enumerate(argv):
        if arg == flag and i + 1 < len(argv):
            value = argv[i + 1]
        elif arg.startswith(flag + "="):
            value = arg[len(flag) + 1 :]
    return value


def _set_flag(argv: Sequence[str], flag: str, value: int, *, add: bool = True) -> list[str]:
    """``argv`` with every ``flag V``/``flag=V`` set to ``value``; appended if absent and
    ``add`` (pure)."""
    out: list[str] = []
    found = skip_next = False
    for arg in argv:
        if skip_next:
            out.append(str(value))
            skip_next = False
        elif arg == flag:
            out.append(arg)
            found = skip_next = True
        elif arg.startswith(flag + "="):
            out.append(f"{flag}={value}")
            found = True
        else:
            out.append(arg)
    if skip_next:
        out.append(str(value))
    if add and not found:
        out.append(f"{flag}={value}")
    return out


KSERVE_HTTP_PORT = 8080
KSERVE_GRPC_PORT = 8081
"""KServe's model server defaults (``kserve.model_server``): it listens on these on all
interfaces, and reads neither ``$PORT`` nor a host option."""
_KSERVE_FLAGS = ("--model_name", "--predictor_host", "--http_port", "--grpc_port")


def _int_or(value: str | None, default: int) -> int:
    return int(value) if value is not None and value.isdigit() else default


def _with_kserve_ports(argv: Sequence[str], served: int, port: int, other: int) -> list[str]:
    """KServe's server given host ports: the one the container declares (``served``: its HTTP
    port unless it declares the gRPC one, as a gRPC predictor's ``h2c`` port does) gets the
    replica's ``port``, the other one ``other`` (pure)."""
    grpc = _int_or(_flag(argv, "--grpc_port"), KSERVE_GRPC_PORT)
    http = _int_or(_flag(argv, "--http_port"), KSERVE_HTTP_PORT)
    grpc_served = served == grpc and served != http
    out = _set_flag(argv, "--http_port", other if grpc_served else port)
    return _set_flag(out, "--grpc_port", port if grpc_served else other)


@dataclasses.dataclass(frozen=True)
class HostImage:
    """What stands in for a container image on the host (from ``minikn.replicas.processImages``):
    the interpreter's ``bin/``, the working directory, whether it is KServe's model server."""

    bin_dir: Path | None = None
    working_dir: str | None = None
    entrypoint: tuple[str, ...] = ()
    """The image's ENTRYPOINT, used when the container gives no command."""
    kserve: bool | None = None
    """None: decided from the arguments (``--model_name``/``--predictor_host``...)."""


def image_entry(images: Mapping[str, ProcessImage], image: str | None) -> ProcessImage | None:
    """The config entry for ``image``: the exact name, else its repository (tag and digest
    dropped) (pure)."""
    if not image:
        return None
    if image in images:
        return images[image]
    repo = image.split("@", 1)[0]
    if ":" in repo.rsplit("/", 1)[-1]:
        repo = repo.rsplit(":", 1)[0]
    return images.get(repo)


def host_image(entry: ProcessImage | None) -> HostImage:
    """The host stand-in for a config entry; ``kserve`` unset is detected from the virtualenv
    (a ``kserve`` package in its site-packages) when it says nothing either way."""
    if entry is None:
        return HostImage()
    venv = Path(entry.virtualenv).expanduser() if entry.virtualenv else None
    kserve = entry.kserve
    if kserve is None and venv is not None:
        kserve = any(venv.glob("lib/python*/site-packages/kserve/model_server.py")) or None
    return HostImage(
        bin_dir=None if venv is None else venv / "bin",
        working_dir=entry.working_dir,
        entrypoint=tuple(entry.entrypoint or ()),
        kserve=kserve,
    )


LOOPBACK = "127.0.0.1"


def host_grpc_port(spec: RevisionSpec, port: int) -> int | None:
    """The host port of a replica's gRPC server: a free one (the HTTP one when the container
    serves both on one port); None when the revision serves no gRPC."""
    c = spec.container
    if c.grpc_port is None:
        return None
    return port if c.grpc_port == c.port else _free_port()


def _on_loopback(argv: list[str]) -> list[str]:
    """The model server's ``--host`` set to loopback, whatever the spec said (pure)."""
    out: list[str] = []
    for i, arg in enumerate(argv):
        if i > 0 and argv[i - 1] == "--host":
            out.append(LOOPBACK)
        elif arg.startswith("--host="):
            out.append(f"--host={LOOPBACK}")
        else:
            out.append(arg)
    if "--host" not in argv and not any(a.startswith("--host=") for a in argv):
        out.append(f"--host={LOOPBACK}")
    return out


_MINIKN_SERVERS = frozenset({"minikn.modelserver", "minikn.graph"})
"""minikn's own servers (the model server, an InferenceGraph's router): they take ``--host``
and KServe's ``--http_port`` (the model server ``--grpc_port``), never a flag not given."""


def _runs_model_server(argv: Sequence[str]) -> bool:
    return any(a == "-m" and b in _MINIKN_SERVERS for a, b in itertools.pairwise(argv))


def process_command(
    spec: RevisionSpec,
    model_dir: Path | None,
    port: int,
    grpc_port: int | None = None,
    *,
    host: HostImage = HostImage(),
    other_port: int = 0,
) -> list[str]:
    """The host command for a replica (pure): the model server natively, else command + args.

    The command resolves as in the image: in ``host.bin_dir`` first (the image's virtualenv),
    else ``python`` is the platform's own interpreter. KServe's model server (``host.kserve``,
    or arguments that only it takes) gets its HTTP and gRPC ports as arguments (the replica's
    ``port`` and ``other_port``): it ignores ``$PORT``, and its defaults (8080, 8081) would
    collide with other replicas and minikn's own listeners. Every replica also gets Knative's
    ``PORT`` in its environment (a generic server reads it).

    A host process listens on loopback when it can: minikn's model server (built in, or a custom
    container's ``python -m minikn.modelserver`` such as a transformer) gets ``--host=127.0.0.1``
    in place of any other; other commands get ``HOST=127.0.0.1`` in their environment and must
    bind to it themselves (``python -m http.server --bind 127.0.0.1 $PORT``); KServe's server
    has no such option and listens on all interfaces.
    """
    c = spec.container
    if spec.builtin_server:
        args = _set_flag(_rewrite_args(c.args, model_dir), "--http_port", port)
        if grpc_port is not None:
            args = _set_flag(args, "--grpc_port", grpc_port)
        return [sys.executable, "-m", "minikn.modelserver", *_on_loopback(args)]
    given = c.command or host.entrypoint
    if not given:
        image = c.image or "?"
        raise ReplicaStartError(
            f"revision {spec.name}: the process backend needs the container's command: the "
            f"entrypoint of image {image} is unknown without Docker (give the container a "
            f"command, or the image an entrypoint in minikn.replicas.processImages[{image!r}], "
            "or run with a Docker engine that can pull it)",
            reason="NoCommand",
        )
    command = _rewrite_args(given, model_dir)
    if host.bin_dir is not None and ("/" not in command[0] or command[0] in _PYTHONS):
        command[0] = str(host.bin_dir / Path(command[0]).name)
    elif command[0] in _PYTHONS:
        # The image's interpreter is the platform's on the host: same packages, minikn included.
        command[0] = sys.executable
    argv = [*command, *_rewrite_args(c.args, model_dir)]
    if _runs_model_server(argv):
        return _on_loopback(_with_ports(argv, port, grpc_port))
    kserve = host.kserve
    if kserve is None:
        kserve = any(_flag(argv, f) is not None for f in _KSERVE_FLAGS)
    if kserve:
        other = grpc_port if grpc_port is not None and grpc_port != port else other_port
        return _with_kserve_ports(argv, c.port, port, other)
    return _with_ports(argv, port, grpc_port)


def _with_ports(argv: Sequence[str], port: int, grpc_port: int | None) -> list[str]:
    """``argv`` with the ``--http_port`` (and ``--grpc_port``) it gives set to the replica's host
    ports (KServe's flags; none added) (pure)."""
    out = _set_flag(argv, "--http_port", port, add=False)
    return out if grpc_port is None else _set_flag(out, "--grpc_port", grpc_port, add=False)


_PYTHONS = frozenset({"python", "python3", "/usr/bin/python3", "/usr/local/bin/python"})


class ProcessBackend:
    """Local processes on free loopback ports."""

    name = "process"

    def __init__(
        self,
        state_dir: Path,
        *,
        platform: str | None = None,
        images: Mapping[str, ProcessImage] | None = None,
    ) -> None:
        self._images = dict(images or {})
        self._dir = state_dir / "replicas"
        self.platform = platform or platform_id(state_dir)
        self._children: dict[str, subprocess.Popen[bytes]] = {}
        self._known: dict[str, ReplicaHandle] = {}
        self._exits: asyncio.Queue[ReplicaExit] = asyncio.Queue()
        self._watch: asyncio.Task[None] | None = None
        self._procs: dict[str, psutil.Process] = {}

    async def start(self) -> None:
        self._dir.mkdir(parents=True, exist_ok=True)
        self._watch = asyncio.create_task(self._watch_exits(), name="minikn-process-exits")

    async def close(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
        for child in self._children.values():
            if child.poll() is None:
                # Detach: the replica outlives this backend (a restarted platform adopts it by
                # its pid file), so this Popen must not report it as a leaked child.
                child.returncode = 0
        self._children.clear()

    def _paths(self, replica_id: str) -> tuple[Path, Path]:
        return self._dir / f"{replica_id}.json", self._dir / f"{replica_id}.log"

    async def create(
        self,
        spec: RevisionSpec,
        replica_id: str,
        *,
        model_dir: Path | None,
        gpus: Sequence[str] = (),
    ) -> ReplicaHandle:
        port = _free_port()
        grpc_port = host_grpc_port(spec, port)
        entry = image_entry(self._images, spec.container.image)
        host = await asyncio.to_thread(host_image, entry)
        cmd = process_command(spec, model_dir, port, grpc_port, host=host, other_port=_free_port())
        custom = not spec.builtin_server and spec.component != "router"
        if entry is None and spec.container.image and custom:
            log.warning(
                "replica %s: image %s is not in minikn.replicas.processImages: its command "
                "runs with the platform's interpreter",
                replica_id,
                spec.container.image,
            )
        env = {**_inherited_env(), **replica_env(spec, port), "HOST": LOOPBACK}
        if grpc_port is not None:
            env["GRPC_PORT"] = str(grpc_port)
        if host.bin_dir is not None:
            env["VIRTUAL_ENV"] = str(host.bin_dir.parent)
            env["PATH"] = os.pathsep.join([str(host.bin_dir), env.get("PATH", os.defpath)])
        env["CUDA_VISIBLE_DEVICES"] = ",".join(gpus)
        handle = ReplicaHandle(
            replica_id=replica_id, revision=spec.name, backend=self.name, ref="",
            host="127.0.0.1", port=port,
            labels=replica_labels(spec, replica_id, gpus, platform=self.platform),
            gpus=tuple(gpus), grpc_port=grpc_port,
        )  # fmt: skip
        cwd = spec.container.working_dir or host.working_dir or None
        return await asyncio.to_thread(self._spawn, handle, cmd, env, cwd)

    def _spawn(
        self, handle: ReplicaHandle, cmd: list[str], env: dict[str, str], cwd: str | None
    ) -> ReplicaHandle:
        replica_id = handle.replica_id
        pid_file, log_file = self._paths(replica_id)
        self._dir.mkdir(parents=True, exist_ok=True)
        with log_file.open("ab") as out:
            try:
                proc = subprocess.Popen(
                    cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                    env=env, cwd=cwd, start_new_session=True,
                )  # fmt: skip
            except OSError as exc:
                raise ReplicaStartError(
                    f"replica {replica_id}: cannot run {cmd[0]}: {exc.strerror}",
                    reason="StartFailed",
                ) from exc
        ps = psutil.Process(proc.pid)
        record = {
            "pid": proc.pid, "create_time": ps.create_time(), "port": handle.port,
            "grpc_port": handle.grpc_port, "labels": handle.labels,
        }  # fmt: skip
        pid_file.write_text(json.dumps(record))
        handle = dataclasses.replace(handle, ref=str(proc.pid))
        self._children[replica_id] = proc
        self._procs[replica_id] = ps
        self._known[replica_id] = handle
        return handle

    async def stop(self, handle: ReplicaHandle, *, grace: float) -> None:
        await asyncio.to_thread(self._stop, handle, grace)

    def _stop(self, handle: ReplicaHandle, grace: float) -> None:
        ps = self._procs.pop(handle.replica_id, None) or self._process(handle)
        if ps is not None:
            with contextlib.suppress(psutil.Error):
                tree = [ps, *ps.children(recursive=True)]
                with contextlib.suppress(OSError):
                    os.killpg(ps.pid, signal.SIGTERM)
                for p in tree:
                    with contextlib.suppress(psutil.Error):
                        p.terminate()
                _, alive = psutil.wait_procs(tree, timeout=grace)
                for p in alive:
                    with contextlib.suppress(psutil.Error):
                        p.kill()
                psutil.wait_procs(alive, timeout=5)
        child = self._children.pop(handle.replica_id, None)
        if child is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(timeout=1)
        self._known.pop(handle.replica_id, None)
        for path in self._paths(handle.replica_id):
            path.unlink(missing_ok=True)

    def _process(self, handle: ReplicaHandle) -> psutil.Process | None:
        try:
            ps = psutil.Process(int(handle.ref))
        except (psutil.Error, ValueError):
            return None
        return ps

    async def list_replicas(self) -> list[ReplicaHandle]:
        return await asyncio.to_thread(self._list)

    def _list(self) -> list[ReplicaHandle]:
        handles = []
        for pid_file in sorted(self._dir.glob("*.json")):
            replica_id = pid_file.stem
            try:
                record: dict[str, Any] = json.loads(pid_file.read_text())
                owner = record["labels"].get(LABEL_PLATFORM, self.platform)
                if owner != self.platform:
                    log.info("replica %s belongs to platform %s: left alone", replica_id, owner)
                    continue
                ps = psutil.Process(int(record["pid"]))
                alive = abs(ps.create_time() - float(record["create_time"])) < 0.01
                alive = alive and ps.status() != psutil.STATUS_ZOMBIE
            except (OSError, ValueError, KeyError, psutil.Error):
                alive = False
            if not alive:
                for path in self._paths(replica_id):
                    path.unlink(missing_ok=True)
                continue
            labels = {str(k): str(v) for k, v in record["labels"].items()}
            handle = ReplicaHandle(
                replica_id=replica_id, revision=labels.get("minikn.io/revision", ""),
                backend=self.name, ref=str(ps.pid), host="127.0.0.1", port=int(record["port"]),
                labels=labels, gpus=tuple(g for g in labels.get(LABEL_GPUS, "").split(",") if g),
                grpc_port=record.get("grpc_port"),
            )  # fmt: skip
            self._known[replica_id] = handle
            self._procs.setdefault(replica_id, ps)
            handles.append(handle)
        return handles

    async def exec(self, handle: ReplicaHandle, command: Sequence[str], *, limit_s: float) -> int:
        proc = await asyncio.create_subprocess_exec(
            *command, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
        )
        try:
            return await asyncio.wait_for(proc.wait(), limit_s)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise

    def logs(self, handle: ReplicaHandle, *, follow: bool, tail: int = 200) -> AsyncIterator[str]:
        _, log_file = self._paths(handle.replica_id)
        proc = self._procs.get(handle.replica_id)
        return follow_file(log_file, follow=follow, tail=tail, alive=lambda: _running(proc))

    async def usage(self, handle: ReplicaHandle) -> ResourceUsage:
        ps = self._procs.get(handle.replica_id)
        if ps is None:
            return ResourceUsage()
        return await asyncio.to_thread(_tree_usage, ps)

    async def exits(self) -> AsyncIterator[ReplicaExit]:
        while True:
            yield await self._exits.get()

    async def _watch_exits(self) -> None:
        while True:
            for replica_id, ps in list(self._procs.items()):
                child = self._children.get(replica_id)
                code = child.poll() if child is not None else None
                if child is not None and code is None:
                    continue
                if child is None and _running(ps):
                    continue
                self._procs.pop(replica_id, None)
                self._children.pop(replica_id, None)
                handle = self._known.get(replica_id)
                revision = handle.revision if handle is not None else ""
                log.info("replica %s of %s exited (code %s)", replica_id, revision, code)
                self._exits.put_nowait(ReplicaExit(replica_id, revision, code, "exited"))
            await asyncio.sleep(EXIT_POLL)


_SECRET_MARKERS = ("TOKEN", "SECRET", "PASSWORD", "CREDENTIAL", "API_KEY")


def _inherited_env() -> dict[str, str]:
    """The platform's environment minus its own settings and anything that looks like a secret
    (a replica is user code: it gets what a container would, plus PATH and locale)."""
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MINIKN_", "DOCKER_", "AWS_"))
        and not any(m in k.upper() for m in _SECRET_MARKERS)
    }


def _running(ps: psutil.Process | None) -> bool:
    if ps is None:
        return False
    try:
        return ps.is_running() and ps.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _tree_usage(ps: psutil.Process) -> ResourceUsage:
    cores, memory = 0.0, 0
    with contextlib.suppress(psutil.Error):
        for p in [ps, *ps.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                cores += p.cpu_percent(interval=None) / 100.0
                memory += p.memory_info().rss
    return ResourceUsage(cpu_cores=cores, memory_bytes=memory, replicas=1)
