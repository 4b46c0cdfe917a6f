"""Re-validate the ISVCs of a saved state: one that today's admission refuses must not run.

A state dir written before a rule existed (or under a laxer config) may hold an ISVC the platform
now refuses, such as ``minReplicas: 2147483647``. Starting it as saved would wedge the platform on
every start, so at load such an ISVC keeps its document (``get``/``describe`` show it, ``delete``
removes it, a fixed ``apply`` replaces it) but loses its revisions, and each component reports
``Ready=False`` with reason ``InvalidSpec`` and the validation message. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Collection

from minikn.api.documents import Document
from minikn.api.validate import AnnotationValidator, parse_document
from minikn.config import Settings
from minikn.controlplane.state import ComponentState, IsvcState, PlaneState
from minikn.core.errors import InvalidInput

__all__ = ["INVALID_SPEC", "quarantine_invalid"]

INVALID_SPEC = "InvalidSpec"
"""The condition reason of an ISVC whose saved spec today's admission refuses."""
_SOURCE = "saved state"


def _refusal(isvc: IsvcState, settings: Settings, check: AnnotationValidator | None) -> str | None:
    doc = Document(_SOURCE, 0, isvc.doc)
    try:
        parse_document(doc, settings, check)
    except InvalidInput as exc:
        prefix = f"{doc.where()}: "
        return "; ".join(line.removeprefix(prefix) for line in exc.message.splitlines())
    return None


def _forget(state: PlaneState, revisions: Collection[str]) -> None:
    for rev in revisions:
        state.revisions.pop(rev, None)
        state.failures.pop(rev, None)
    state.ready -= set(revisions)


def quarantine_invalid(
    state: PlaneState, settings: Settings, check: AnnotationValidator | None = None
) -> list[tuple[IsvcState, str]]:
    """Strip the revisions of every saved ISVC that admission refuses now, in place.

    Returns each such ISVC with the message. Component revision names are kept (the generation
    is their count) while their specs go, so a fixed apply
    creates the next revision number instead of reusing the name of one that may still have
    replicas to clean up.
    """
    refused: list[tuple[IsvcState, str]] = []
    for _, isvc in sorted(state.isvcs.items()):
        message = _refusal(isvc, settings, check)
        if message is None:
            continue
        components = isvc.components or {"predictor": ComponentState()}
        for name, cs in list(components.items()):
            _forget(state, set(cs.revisions))
            # The names stay (the generation is their count), the specs go: nothing runs.
            isvc.components[name] = ComponentState(
                revisions=cs.revisions,
                hashes=cs.hashes,
                error_reason=INVALID_SPEC,
                error_message=message,
            )
        refused.append((isvc, message))
    return refused
