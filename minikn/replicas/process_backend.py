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
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import psutil

from minikn.core.revision import MODEL_MOUNT, RevisionSpec
from minikn.core.usage import ResourceUsage
from minikn.replicas.backend import LABEL_GPUS, platform_id, replica_env, replica_labels
from minikn.replicas.logtail import follow_file
from minikn.replicas.types import LABEL_PLATFORM, ReplicaExit, ReplicaHandle, ReplicaStartError

__all__ = ["ProcessBackend", "process_command"]

log = logging.getLogger("minikn.replicas.process")

EXIT_POLL = 0.1
"""How often exits are checked (well within the one-second promise)."""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _rewrite_args(
    args: Sequence[str], model_dir: Path | None, port: int, grpc_port: int | None = None
) -> list[str]:
    """The container's args on the host: the model mount as ``model_dir``, ``--http_port`` (and
    ``--grpc_port``, KServe's flags) as the replica's host ports."""
    ports = {"--http_port": port}
    if grpc_port is not None:
        ports["--grpc_port"] = grpc_port
    out: list[str] = []
    replace_next: int | None = None
    for raw in args:
        if replace_next is not None:
            out.append(str(replace_next))
            replace_next = None
            continue
        arg = raw.replace(MODEL_MOUNT, str(model_dir)) if model_dir is not None else raw
        flag, eq, _ = arg.partition("=")
        if flag in ports:
            if eq:
                arg = f"{flag}={ports[flag]}"
            else:
                replace_next = ports[flag]
        out.append(arg)
    return out


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


def _runs_model_server(argv: Sequence[str]) -> bool:
    return any(a == "-m" and b == "minikn.modelserver" for a, b in itertools.pairwise(argv))


def process_command(
    spec: RevisionSpec, model_dir: Path | None, port: int, grpc_port: int | None = None
) -> list[str]:
    """The host command for a replica (pure): the model server natively, else command + args.

    A host process listens on loopback only: minikn's model server (built in, or a custom
    container's ``python -m minikn.modelserver`` such as a transformer) gets ``--host=127.0.0.1``
    in place of any other; other commands get ``HOST=127.0.0.1`` in their environment and must
    bind to it themselves (``python -m http.server --bind 127.0.0.1 $PORT``).
    """
    c = spec.container
    if spec.builtin_server:
        args = _rewrite_args(c.args, model_dir, port, grpc_port)
        if not any(a == "--http_port" or a.startswith("--http_port=") for a in args):
            args.append(f"--http_port={port}")
        if grpc_port is not None and not any(
            a == "--grpc_port" or a.startswith("--grpc_port=") for a in args
        ):
            args.append(f"--grpc_port={grpc_port}")
        return [sys.executable, "-m", "minikn.modelserver", *_on_loopback(args)]
    if not c.command:
        raise ReplicaStartError(
            f"revision {spec.name}: the process backend needs the container's command "
            "(the image's entrypoint is unknown without Docker)",
            reason="NoCommand",
        )
    command = _rewrite_args(c.command, model_dir, port, grpc_port)
    if command[0] in _PYTHONS:
        # The image's interpreter is the platform's on the host: same packages, minikn included.
        command[0] = sys.executable
    argv = [*command, *_rewrite_args(c.args, model_dir, port, grpc_port)]
    return _on_loopback(argv) if _runs_model_server(argv) else argv


_PYTHONS = frozenset({"python", "python3", "/usr/bin/python3", "/usr/local/bin/python"})


class ProcessBackend:
    """Local processes on free loopback ports."""

    name = "process"

    def __init__(self, state_dir: Path, *, platform: str | None = None) -> None:
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
        cmd = process_command(spec, model_dir, port, grpc_port)
        if spec.container.image and not spec.builtin_server and spec.component != "router":
            log.warning(
                "replica %s: process backend ignores image %s", replica_id, spec.container.image
            )
        env = {**_inherited_env(), **replica_env(spec, port), "HOST": LOOPBACK}
        if grpc_port is not None:
            env["GRPC_PORT"] = str(grpc_port)
        env["CUDA_VISIBLE_DEVICES"] = ",".join(gpus)
        handle = ReplicaHandle(
            replica_id=replica_id, revision=spec.name, backend=self.name, ref="",
            host="127.0.0.1", port=port,
            labels=replica_labels(spec, replica_id, gpus, platform=self.platform),
            gpus=tuple(gpus), grpc_port=grpc_port,
        )  # fmt: skip
        return await asyncio.to_thread(self._spawn, spec, handle, cmd, env)

    def _spawn(
        self, spec: RevisionSpec, handle: ReplicaHandle, cmd: list[str], env: dict[str, str]
    ) -> ReplicaHandle:
        replica_id = handle.replica_id
        pid_file, log_file = self._paths(replica_id)
        self._dir.mkdir(parents=True, exist_ok=True)
        cwd = spec.container.working_dir if spec.container.working_dir else None
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
