"""Where a storageUri points: local paths (file://, pvc://, gs:// mappings) and S3 (blocking).

The functions here are synchronous; ``ModelStore`` runs them in threads.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from minikn.config.local import StorageConfig
from minikn.config.paths import config_dir
from minikn.core.errors import InvalidInput, NotFound, PermanentError, RetryableError

__all__ = ["S3Object", "default_roots", "local_source", "s3_download", "s3_listing"]

log = logging.getLogger("minikn.modelserver.storage")
REPO_CONFIG = config_dir()


def default_roots(config: StorageConfig) -> list[Path]:
    """``allowedRoots``, or only the shipped examples (``<config dir>/examples``) when empty.

    Never the working directory: ``minikn serve`` started from ``/`` must not serve ``/etc``."""
    roots = config.allowed_roots or [str(REPO_CONFIG / "examples")]
    return [Path(r).expanduser().resolve() for r in roots]


def _mapped(kind: str, mapping: dict[str, str], name: str, rest: str, uri: str) -> Path:
    if name not in mapping:
        key = "pvc" if kind == "pvc" else "gcs"
        raise PermanentError(
            f"{uri}: {kind}://{name} is not mapped to a host directory; add it under "
            f"minikn.storage.{key} in the config, e.g. {key}: {{{name}: /path/on/host}}",
            reason="StorageNotMapped",
        )
    base = Path(mapping[name]).expanduser().resolve()
    path = (base / rest).resolve()
    if not path.is_relative_to(base):
        raise InvalidInput(f"{uri}: path escapes the mapped directory {base}")
    return path


def local_source(uri: str, config: StorageConfig) -> Path:
    """The host path of a local, ``file://``, ``pvc://`` or ``gs://`` URI (must exist)."""
    parsed = urlparse(uri)
    if parsed.scheme in ("pvc", "gs"):
        mapping = config.pvc if parsed.scheme == "pvc" else config.gcs
        path = _mapped(parsed.scheme, mapping, parsed.netloc, unquote(parsed.path).lstrip("/"), uri)
    else:
        raw = uri[len("file://") :] if parsed.scheme == "file" else uri
        path = Path(unquote(raw)).expanduser().resolve()
        roots = default_roots(config)
        if not any(path.is_relative_to(root) for root in roots):
            raise InvalidInput(
                f"{uri}: local path {path} is outside the allowed roots "
                f"({', '.join(map(str, roots))}); add it to minikn.storage.allowedRoots"
            )
    if not path.exists():
        raise NotFound(f"{uri}: {path} does not exist")
    return path


@dataclass(frozen=True)
class S3Object:
    key: str
    size: int
    etag: str


def _client(config: StorageConfig) -> Any:
    try:
        import boto3
        from botocore.config import Config
    except ImportError as exc:
        raise PermanentError("s3:// needs boto3: pip install 'minikn[s3]'") from exc
    endpoint = config.s3_endpoint or os.environ.get("AWS_ENDPOINT_URL") or None
    region = (
        config.s3_region or os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION")
    )
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=region or "us-east-1",
        config=Config(retries={"max_attempts": 3, "mode": "standard"}),
    )


def s3_listing(uri: str, config: StorageConfig) -> tuple[Any, str, str, list[S3Object]]:
    """(client, bucket, prefix, objects) for ``s3://bucket/prefix``."""
    from botocore.exceptions import BotoCoreError, ClientError

    parsed = urlparse(uri)
    bucket, prefix = parsed.netloc, parsed.path.lstrip("/")
    if not bucket:
        raise InvalidInput(f"{uri}: no bucket")
    client = _client(config)
    objects: list[S3Object] = []
    try:
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                key = item["Key"]
                if key.endswith("/"):
                    continue
                if (
                    key != prefix
                    and prefix
                    and not prefix.endswith("/")
                    and not key.startswith(prefix + "/")
                ):
                    continue  # s3://b/model must not pick up s3://b/model-old/...
                objects.append(S3Object(key, int(item["Size"]), str(item.get("ETag", ""))))
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in ("NoSuchBucket", "404"):
            raise NotFound(f"{uri}: bucket {bucket} does not exist") from exc
        if code in ("AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
            raise PermanentError(f"{uri}: access denied ({code}); check AWS_* credentials") from exc
        raise RetryableError(f"{uri}: S3 error {code}: {exc}") from exc
    except BotoCoreError as exc:
        raise RetryableError(f"{uri}: S3 unreachable: {exc}") from exc
    if not objects:
        raise NotFound(f"{uri}: no objects under this prefix")
    return client, bucket, prefix, objects


def s3_download(client: Any, bucket: str, prefix: str, objects: list[S3Object], dest: Path) -> None:
    """Download every object to ``dest`` (paths relative to the prefix), checking sizes."""
    from botocore.exceptions import BotoCoreError, ClientError

    for obj in objects:
        if obj.key == prefix:
            relative = Path(obj.key).name
        else:
            relative = obj.key[len(prefix) :].lstrip("/") if prefix else obj.key
        target = (dest / relative).resolve()
        if not target.is_relative_to(dest.resolve()):
            raise InvalidInput(f"s3://{bucket}/{obj.key}: key escapes the target directory")
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            client.download_file(bucket, obj.key, str(target))
        except (ClientError, BotoCoreError) as exc:
            raise RetryableError(f"s3://{bucket}/{obj.key}: download failed: {exc}") from exc
        if target.stat().st_size != obj.size:
            raise RetryableError(
                f"s3://{bucket}/{obj.key}: got {target.stat().st_size} bytes, expected {obj.size}"
            )
        log.info("storage: downloaded s3://%s/%s (%d bytes)", bucket, obj.key, obj.size)
