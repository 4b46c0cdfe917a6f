"""Bringing one replica up: fetch the model, create it (unless adopted), probe it to Ready.

Every way this can fail is classified here into a condition reason the manager reports.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from pathlib import Path

from minikn.core.clock import Clock
from minikn.core.revision import RevisionSpec
from minikn.replicas.backend import ReplicaBackend
from minikn.replicas.probe import ReplicaExited, default_probe, wait_ready
from minikn.replicas.state import ModelStore, ReplicaRecord
from minikn.replicas.types import ERR_PULL, PULL_BACKOFF, ReplicaHandle, ReplicaStartError

__all__ = [
    "EXIT_MARKERS",
    "StartFailure",
    "bring_up",
    "exit_reason",
    "fetch_model",
    "log_tail",
    "pull_backoff",
]

EXIT_MARKERS = ("ModelLoadFailed", "StorageFailed")
"""Reasons a replica may state as its last words, ``<Reason>: <message>`` on a line of its own:
the model server's load failure (``python -m minikn.modelserver`` exits 1 after it), a storage
initializer's. The revision's condition then carries that reason and message, not a bare crash."""
TAIL_LINES = 20


class StartFailure(Exception):
    """A replica could not get Ready; ``reason`` is the revision condition's reason."""

    def __init__(
        self, reason: str, message: str, *, backend_error: bool = False, exited: bool = False
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.backend_error = backend_error
        self.exited = exited
        """The replica ran and exited before it was ready (a crash, not a refusal)."""


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
    """Create (unless ``rep.handle`` is set: adopted) and probe until Ready; StartFailure if not.

    Records the seconds of each phase in ``rep.phases`` (storage, create, load). A revision no
    backend can run (``spec.not_runnable``) fails at once with its reason."""
    if spec.not_runnable is not None:
        raise StartFailure(spec.not_runnable.reason, spec.not_runnable.message)
    try:
        if rep.handle is None:
            mark = clock.monotonic()
            model_dir = await fetch_model(store, spec)
            rep.phases["storage"] = clock.monotonic() - mark
            mark = clock.monotonic()
            rep.handle = await _create(backend, spec, rep, model_dir)
            rep.phases["create"] = clock.monotonic() - mark
        mark = clock.monotonic()
        await wait_ready(
            rep.handle, default_probe(spec), clock=clock, exited=rep.exited, deadline=deadline,
            exec_=lambda h, cmd, t: backend.exec(h, cmd, limit_s=t),
        )  # fmt: skip
        rep.phases["load"] = clock.monotonic() - mark
    except ReplicaStartError as exc:
        raise StartFailure(exc.reason or "StartFailed", exc.message) from exc
    except ReplicaExited as exc:
        lines = await log_tail(backend, rep.handle, TAIL_LINES)
        stated = exit_reason(lines)
        if stated is not None:
            raise StartFailure(*stated, exited=True) from exc
        message = f"replica {rep.replica_id} exited (code {rep.exit_code}) before it was ready"
        tail = (": " + " | ".join(lines[-5:])) if lines else ""
        raise StartFailure("CrashLoopBackOff", f"{message}{tail}", exited=True) from exc
    except TimeoutError as exc:
        message = f"replica {rep.replica_id} not ready within the progress deadline"
        raise StartFailure("ProgressDeadlineExceeded", message) from exc
    except Exception as exc:  # engine hiccups: the next pass retries after a backoff
        raise StartFailure("ReplicaCreateFailed", str(exc), backend_error=True) from exc


def pull_backoff(reason: str, message: str, failures: int) -> tuple[str, str]:
    """Kubernetes' image pull states: the first failed pull is ``ErrImagePull``; from the second
    on the kubelet backs off, ``ImagePullBackOff``, still carrying the engine's error (pure)."""
    if reason != ERR_PULL or failures < 2:
        return reason, message
    return PULL_BACKOFF, message.replace("Failed to pull image", "Back-off pulling image", 1)


def exit_reason(lines: Sequence[str]) -> tuple[str, str] | None:
    """The last ``<Reason>: <message>`` line with a reason of EXIT_MARKERS, else None (pure)."""
    for line in reversed(lines):
        reason, sep, message = line.strip().partition(": ")
        if sep and reason in EXIT_MARKERS and message.strip():
            return reason, message.strip()
    return None


async def log_tail(
    backend: ReplicaBackend, handle: ReplicaHandle | None, lines: int = 5
) -> list[str]:
    """The replica's last ``lines`` lines of output (for crash messages); [] if unreadable."""
    if handle is None:
        return []
    out: list[str] = []
    with contextlib.suppress(Exception):
        async for line in backend.logs(handle, follow=False, tail=lines):
            out.append(line)
    return out[-lines:]
