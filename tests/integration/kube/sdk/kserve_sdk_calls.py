"""Run in a virtualenv with the KServe SDK (``kserve``): the calls a KServe user makes with
``KServeClient``, against the kubeconfig given, printing one JSON line of what each returned.

Usage: python kserve_sdk_calls.py KUBECONFIG NAMESPACE STORAGE_URI
"""

from __future__ import annotations

import json
import sys
import time

from kserve import (
    KServeClient,
    V1beta1InferenceService,
    V1beta1InferenceServiceSpec,
    V1beta1ModelFormat,
    V1beta1ModelSpec,
    V1beta1PredictorSpec,
    constants,
)
from kubernetes import client as k8s


def isvc(name: str, namespace: str, storage_uri: str) -> V1beta1InferenceService:
    return V1beta1InferenceService(
        api_version=constants.KSERVE_V1BETA1,
        kind=constants.KSERVE_KIND_INFERENCESERVICE,
        metadata=k8s.V1ObjectMeta(name=name, namespace=namespace),
        spec=V1beta1InferenceServiceSpec(
            predictor=V1beta1PredictorSpec(
                model=V1beta1ModelSpec(
                    model_format=V1beta1ModelFormat(name="sklearn"), storage_uri=storage_uri
                )
            )
        ),
    )


def main() -> None:
    config, ns, uri = sys.argv[1:4]
    kc = KServeClient(config_file=config)
    out: dict[str, object] = {}
    created = kc.create(isvc("sdk-a", ns, uri))
    out["created_uid"] = created["metadata"].get("uid", "")
    kc.wait_isvc_ready("sdk-a", namespace=ns, watch=True, timeout_seconds=120)
    out["ready_after_watch"] = kc.is_isvc_ready("sdk-a", namespace=ns)
    got = kc.get("sdk-a", namespace=ns)
    out["url"] = got["status"]["url"]
    patch = isvc("sdk-a", ns, uri)
    patch.metadata.labels = {"team": "sdk"}
    patched = kc.patch("sdk-a", patch, namespace=ns)
    out["patched_label"] = patched["metadata"]["labels"].get("team")
    replacement = isvc("sdk-a", ns, uri)
    replacement.spec.predictor.min_replicas = 1
    replaced = kc.replace("sdk-a", replacement, namespace=ns)
    out["replaced_generation"] = replaced["metadata"]["generation"]
    kc.wait_isvc_ready("sdk-a", namespace=ns, watch=False, timeout_seconds=120,
                       polling_interval=1)  # fmt: skip
    out["ready_after_poll"] = kc.is_isvc_ready("sdk-a", namespace=ns)

    kc.create(isvc("sdk-never", ns, "file:///nonexistent/model"))
    start = time.monotonic()
    kc.wait_isvc_ready("sdk-never", namespace=ns, watch=True, timeout_seconds=3)
    out["never_watch_waited_s"] = time.monotonic() - start
    try:
        kc.wait_isvc_ready("sdk-never", namespace=ns, timeout_seconds=3, polling_interval=1)
        out["never_poll"] = "returned"
    except RuntimeError as exc:
        out["never_poll"] = f"RuntimeError: {exc}"
    out["never_ready"] = kc.is_isvc_ready("sdk-never", namespace=ns)

    kc.delete("sdk-a", namespace=ns)
    kc.delete("sdk-never", namespace=ns)
    try:
        kc.get("sdk-a", namespace=ns)
        out["after_delete"] = "found"
    except RuntimeError as exc:
        out["after_delete"] = "Not Found" if "Not Found" in str(exc) else str(exc)
    print("RESULT " + json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
