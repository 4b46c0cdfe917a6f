"""A saved ISVC that today's admission refuses is failed at load; the rest start as saved."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from minikn.api.documents import Document
from minikn.api.runtimes import default_registry
from minikn.config import Settings
from minikn.controlplane import quarantine
from minikn.controlplane.controller import Controller
from minikn.controlplane.store import StateStore
from minikn.core.clock import FakeClock
from minikn.core.events import EventSink
from minikn.testing.manifests import docs_of, isvc_doc

from .conftest import RecordingListener

LAX = Settings.model_validate({"config-autoscaler": {"max-scale-limit": 0}})
"""Rules of an older platform: no max-scale-limit, so minReplicas 2^31-1 was admitted."""
WEDGE = 2**31 - 1


def _controller(
    state_dir: Path, clock: FakeClock, settings: Settings, listener: RecordingListener | None = None
) -> Controller:
    return Controller(
        settings,
        clock=clock,
        store=StateStore(state_dir),
        registry=default_registry(),
        events=EventSink(),
        listener=listener,
    )


async def _saved_under_lax_rules(state_dir: Path, clock: FakeClock) -> None:
    old = _controller(state_dir, clock, LAX)
    await old.start()
    await old.apply(
        docs_of(
            isvc_doc("good"),
            isvc_doc("bad", sklearn={"storageUri": "gs://b/m"}, minReplicas=WEDGE),
        )
    )
    await old.close()


def _ready(resource: dict[str, object]) -> dict[str, str]:
    status = resource["status"]
    assert isinstance(status, dict)
    return next(c for c in status["conditions"] if c["type"] == "Ready")


async def test_refused_isvc_is_failed_with_the_reason_and_runs_nothing(
    tmp_path: Path, fake_clock: FakeClock
) -> None:
    await _saved_under_lax_rules(tmp_path, fake_clock)
    listener = RecordingListener()
    ctl = _controller(tmp_path, fake_clock, Settings(), listener)
    await ctl.start()
    try:
        assert listener.live[-1] == ["good-predictor-00001"]
        ready = _ready(ctl.get("default", "bad"))
        assert (ready["status"], ready["reason"]) == ("False", "InvalidSpec")
        assert ready["message"].startswith(
            "spec.predictor.minReplicas: 2147483647: must be at most 100"
        )
        assert ctl.revisions("default", "bad") == []
        [event] = ctl.recent_events("default", "bad")
        assert (event.type, event.reason) == ("Warning", "InvalidSpec")
        assert [r.name for r in ctl.revisions("default", "good")] == ["good-predictor-00001"]
    finally:
        await ctl.close()


async def test_a_fixed_apply_replaces_it_with_the_next_revision(
    tmp_path: Path, fake_clock: FakeClock
) -> None:
    await _saved_under_lax_rules(tmp_path, fake_clock)
    listener = RecordingListener()
    ctl = _controller(tmp_path, fake_clock, Settings(), listener)
    await ctl.start()
    try:
        fixed = isvc_doc("bad", sklearn={"storageUri": "gs://b/m"}, minReplicas=2)
        [result] = await ctl.apply(docs_of(fixed))
        assert result.revisions == ["bad-predictor-00002"]
        assert "bad-predictor-00002" in listener.live[-1]
        assert _ready(ctl.get("default", "bad"))["reason"] != "InvalidSpec"
    finally:
        await ctl.close()


async def test_it_can_be_deleted_and_the_pruned_state_is_saved(
    tmp_path: Path, fake_clock: FakeClock
) -> None:
    await _saved_under_lax_rules(tmp_path, fake_clock)
    ctl = _controller(tmp_path, fake_clock, Settings())
    await ctl.start()
    await ctl.close()
    saved = StateStore(tmp_path).load()
    assert sorted(saved.revisions) == ["good-predictor-00001"]

    ctl = _controller(tmp_path, fake_clock, Settings())
    await ctl.start()
    try:
        await ctl.delete("default", "bad")
        assert [i["metadata"]["name"] for i in ctl.list_isvcs()] == ["good"]
    finally:
        await ctl.close()


def _count_validations(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the saved ISVCs validated at start (the real validation runs)."""
    seen: list[str] = []
    real = quarantine.parse_document

    def counted(doc: Document, *args: Any) -> Any:
        seen.append(doc.name)
        return real(doc, *args)

    monkeypatch.setattr(quarantine, "parse_document", counted)
    return seen


async def test_isvcs_admitted_under_the_same_rules_are_not_validated_again(
    tmp_path: Path, fake_clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = _controller(tmp_path, fake_clock, Settings())
    await first.start()
    await first.apply(docs_of(isvc_doc("a"), isvc_doc("b")))
    await first.close()
    validated = _count_validations(monkeypatch)
    second = _controller(tmp_path, fake_clock, Settings())
    await second.start()
    await second.close()
    assert validated == []


async def test_a_refused_isvc_is_validated_and_refused_again_at_every_start(
    tmp_path: Path, fake_clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _saved_under_lax_rules(tmp_path, fake_clock)
    validated = _count_validations(monkeypatch)
    for _ in range(2):
        ctl = _controller(tmp_path, fake_clock, Settings())
        await ctl.start()
        try:
            assert _ready(ctl.get("default", "bad"))["reason"] == "InvalidSpec"
        finally:
            await ctl.close()
    # Under the new rules: both at the first start (saved under the old ones), then only the
    # refused one (the other was admitted under these).
    assert validated == ["bad", "good", "bad"]
