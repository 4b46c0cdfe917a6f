"""KServe's CloudEvent headers for payload logging (pure)."""

from __future__ import annotations

import json

import pytest

from minikn.activator.agent.cloudevents import (
    CE_REQUEST,
    canonical_header_key,
    event_headers,
    format_ce_time,
    match_metadata,
)


@pytest.mark.parametrize(
    ("name", "canonical"),
    [("x-request-id", "X-Request-Id"), ("CONTENT-TYPE", "Content-Type"), ("ce-id", "Ce-Id")],
)
def test_canonical_header_key_is_gos(name: str, canonical: str) -> None:
    assert canonical_header_key(name) == canonical


@pytest.mark.parametrize(
    ("unix", "text"),
    [
        (1_700_000_000.0, "2023-11-14T22:13:20Z"),
        (1_700_000_000.5, "2023-11-14T22:13:20.5Z"),
        (1_700_000_000.123456, "2023-11-14T22:13:20.123456Z"),
    ],
)
def test_ce_time_is_rfc3339_utc_with_trimmed_fraction(unix: float, text: str) -> None:
    assert format_ce_time(unix) == text


def test_metadata_matches_case_insensitively_and_keeps_every_value() -> None:
    headers = [("x-user", "a"), ("X-User", "b"), ("x-other", "c"), ("X-Tenant", "t")]
    assert match_metadata(headers, ("X-User", "x-tenant")) == {
        "X-User": ["a", "b"],
        "X-Tenant": ["t"],
    }
    assert match_metadata(headers, ()) == {}


def test_event_headers_carry_every_kserve_attribute() -> None:
    headers = event_headers(
        ce_id="id-1",
        ce_type=CE_REQUEST,
        source="http://src",
        time=1_700_000_000.0,
        isvc="iris",
        namespace="ns",
        component="predictor",
        endpoint="default",
        metadata={"X-User": ["a"]},
        content_type="application/json",
    )
    assert headers == {
        "Ce-Specversion": "1.0",
        "Ce-Id": "id-1",
        "Ce-Type": "org.kubeflow.serving.inference.request",
        "Ce-Source": "http://src",
        "Ce-Time": "2023-11-14T22:13:20Z",
        "Ce-Inferenceservicename": "iris",
        "Ce-Namespace": "ns",
        "Ce-Component": "predictor",
        "Ce-Endpoint": "default",
        "Ce-Metadata": '{"X-User":["a"]}',
        "Content-Type": "application/json",
    }


def test_event_without_request_content_type_has_none_and_empty_metadata() -> None:
    headers = event_headers(
        ce_id="i",
        ce_type=CE_REQUEST,
        source="s",
        time=0.0,
        isvc="i",
        namespace="n",
        component="predictor",
        endpoint="",
        metadata={},
        content_type="",
    )
    assert "Content-Type" not in headers
    assert json.loads(headers["Ce-Metadata"]) == {}
