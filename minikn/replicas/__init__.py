"""minikn.replicas: replica backends (Docker, processes), readiness, GPUs, the replica manager."""

from minikn.replicas.backend import ReplicaBackend
from minikn.replicas.docker_backend import DockerBackend
from minikn.replicas.gpus import GpuAllocator
from minikn.replicas.manager import ModelStore, ReplicaManager
from minikn.replicas.process_backend import ProcessBackend
from minikn.replicas.select import select_backend
from minikn.replicas.types import (
    ImageNotFound,
    NoGPURuntime,
    ReplicaHandle,
    ReplicaSetStatus,
    ReplicaStartError,
)

__all__ = [
    "DockerBackend",
    "GpuAllocator",
    "ImageNotFound",
    "ModelStore",
    "NoGPURuntime",
    "ProcessBackend",
    "ReplicaBackend",
    "ReplicaHandle",
    "ReplicaManager",
    "ReplicaSetStatus",
    "ReplicaStartError",
    "select_backend",
]
