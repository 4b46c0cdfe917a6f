"""Bringing one replica up: fetch the model, create it (unless adopted), probe it to Ready.

Every way this can fail is classified here into a condition reason the manager reports.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from minikn.core.clock import Clock
from minikn.core.revision import RevisionSpec
from minikn.replicas.backend import ReplicaBackend
from minikn.replicas.probe import ReplicaExited, default_probe, wait_ready
from minikn.replicas.state import ModelStore, ReplicaRecord
from minikn.replicas.types import ReplicaHandle, ReplicaStartError

__all__ = ["StartFailure", "bring_up", "fetch_model", "log_tail"]


class StartFailure(Exception):
    """A replica could not get Ready; ``reason`` is the revision condition's reason."""

    def __init__(self, reason: str, message: str, *, backend_error: bool = False) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.backend_error = backend_error


async def fetch_model(store: ModelStore, spec: RevisionSpec) -> Path | None:
    """The storage initializer's step: the model's local directory, or None without a model."""
    if spec.model is None or not spec.model.storage_uri:
        return None
    try:
        return await store.fetch(spec.model.storage_uri)
    except Exception as exc:
        raise ReplicaStartError(
            f"cannot fetch model {spec.model.storage_uri}: {exc}", reason="StorageFailed"
        ) from exc


async def _create(
    backend: ReplicaBackend, spec: RevisionSpec, rep: ReplicaRecord, model_dir: Path | None
) -> ReplicaHandle:
    creating = asyncio.ensure_future(
        backend.create(spec, rep.replica_id, model_dir=model_dir, gpus=rep.gpus)
    )
    try:
        return await asyncio.shield(creating)
    except asyncio.CancelledError:
        # Stopped mid-create: learn the handle anyway so that what was created is removed.
        with contextlib.suppress(Exception):
            rep.handle = await creating
        raise


async def bring_up(
    backend: ReplicaBackend,
    store: ModelStore,
    spec: RevisionSpec,
    rep: ReplicaRecord,
    *,
    clock: Clock,
    deadline: float,
) -> None:
    """Create (unless ``rep.handle`` is set: adopted) and probe until Ready; StartFailure if not."""
    try:
        if rep.handle is None:
            rep.handle = await _create(backend, spec, rep, await fetch_model(store, spec))
        await wait_ready(
            rep.handle, default_probe(spec), clock=clock, exited=rep.exited, deadline=deadline,
            exec_=lambda h, cmd, t: backend.exec(h, cmd, limit_s=t),
        )  # fmt: skip
    except ReplicaStartError as exc:
        raise StartFailure(exc.reason or "StartFailed", exc.message) from exc
    except ReplicaExited as exc:
        tail = await log_tail(backend, rep.handle)
        message = f"replica {rep.replica_id} exited (code {rep.exit_code}) before it was ready"
        raise StartFailure("CrashLoopBackOff", f"{message}{tail}") from exc
    except TimeoutError as exc:
        message = f"replica {rep.replica_id} not ready within the progress deadline"
        raise StartFailure("ProgressDeadlineExceeded", message) from exc
    except Exception as exc:  # engine hiccups: the next pass retries after a backoff
        raise StartFailure("ReplicaCreateFailed", str(exc), backend_error=True) from exc


async def log_tail(backend: ReplicaBackend, handle: ReplicaHandle | None, lines: int = 5) -> str:
    """``": line | line"`` from the replica's last output (for crash messages), or ``""``."""
    if handle is None:
        return ""
    out: list[str] = []
    with contextlib.suppress(Exception):
        async for line in backend.logs(handle, follow=False, tail=lines):
            out.append(line)
    return (": " + " | ".join(out[-lines:])) if out else ""
