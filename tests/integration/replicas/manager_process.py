"""A stand-in platform process for the kill -9 adoption test: runs a ReplicaManager until killed.

Usage: python manager_process.py KIND STATE_DIR NETWORK SPEC_JSON...  (prints ``ready <id>``).
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from minikn.config.loader import Settings
from minikn.core.clock import SystemClock
from minikn.core.endpoints import Endpoint
from minikn.core.events import EventSink
from minikn.core.revision import RevisionSpec
from minikn.replicas.gpus import GpuAllocator
from minikn.replicas.manager import ReplicaManager
from minikn.replicas.select import select_backend
from minikn.telemetry.metrics import Metrics


class PrintingListener:
    def endpoints_changed(self, revision: str, endpoints: list[Endpoint]) -> None:
        for e in endpoints:
            print(f"ready {e.replica_id}", flush=True)

    def revision_ready(self, revision: str) -> None: ...
    def revision_failed(self, revision: str, reason: str, message: str) -> None:
        print(f"failed {revision} {reason} {message}", flush=True)

    def revision_recovered(self, revision: str) -> None: ...


class NoStore:
    async def fetch(self, uri: str) -> Path:
        raise AssertionError(uri)


async def main(kind: str, state_dir: str, network: str, specs: list[str]) -> None:
    settings = Settings.model_validate({"minikn": {"replicas": {"dockerNetwork": network}}})
    backend = select_backend(kind, settings, state_dir=Path(state_dir))  # type: ignore[arg-type]
    live = [RevisionSpec.model_validate_json(s) for s in specs]
    manager = ReplicaManager(
        backend, settings=settings, clock=SystemClock(), store=NoStore(), gpus=GpuAllocator([]),
        listener=PrintingListener(), events=EventSink(), metrics=Metrics(),
    )  # fmt: skip
    await manager.start(live)
    for spec in live:
        manager.set_desired(spec.name, 1)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]))
