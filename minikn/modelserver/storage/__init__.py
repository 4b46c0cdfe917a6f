"""The storage initializer: storageUri -> a local model directory, through a shared cache."""

from minikn.modelserver.storage.store import ModelStore, cache_key

__all__ = ["ModelStore", "cache_key"]
