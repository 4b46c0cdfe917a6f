"""Re-validate the ISVCs of a saved state: one that today's admission refuses must not run.

A state dir written before a rule existed (or under a laxer config) may hold an ISVC the platform
now refuses, such as ``minReplicas: 2147483647``. Starting it as saved would wedge the platform on
every start, so at load such an ISVC keeps its document (``get``/``describe`` show it, ``delete``
removes it, a fixed ``apply`` replaces it) but loses its revisions, and each component reports
``Ready=False`` with reason ``InvalidSpec`` and the validation message.

An ISVC accepted under the very rules in force (same code, same settings: the fingerprint
:func:`admission_rules`, kept with each ISVC) is not validated again: a restart of 10,000 ISVCs
under unchanged rules skips 10,000 validations.
"""

from __future__ import annotations

import hashlib
import importlib.util
from collections.abc import Collection
from pathlib import Path

import minikn
from minikn.api.documents import Document
from minikn.api.validate import AnnotationValidator, parse_document
from minikn.config import Settings
from minikn.controlplane.state import ComponentState, IsvcState, PlaneState
from minikn.core.errors import InvalidInput

__all__ = ["INVALID_SPEC", "admission_rules", "quarantine_invalid"]

INVALID_SPEC = "InvalidSpec"
"""The condition reason of an ISVC whose saved spec today's admission refuses."""
_SOURCE = "saved state"


_RULE_MODULES = ("minikn.api", "minikn.config", "minikn.autoscaler.spec", "minikn.core.revision")
"""Where admission's rules live: the API schema and rules, the settings' types, the
autoscaling annotations' checks, the revision names."""


def _sources(module: str) -> list[Path]:
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise FileNotFoundError(module)
    origin = Path(spec.origin)
    return sorted(origin.parent.glob("*.py")) if origin.name == "__init__.py" else [origin]


def admission_rules(settings: Settings, check: AnnotationValidator | None = None) -> str | None:
    """A fingerprint of what admission decides with: the code of its modules, minikn's version
    and the settings. None when it cannot be told (a custom ``check``, sources not readable):
    then every saved ISVC is validated at start."""
    if check is not None:
        return None
    digest = hashlib.sha256(f"{minikn.__version__}\0{settings.model_dump_json()}".encode())
    try:
        for module in _RULE_MODULES:
            for path in _sources(module):
                digest.update(path.name.encode() + b"\0" + path.read_bytes())
    except (OSError, ImportError, ValueError):
        return None
    return digest.hexdigest()


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
    state: PlaneState,
    settings: Settings,
    check: AnnotationValidator | None = None,
    *,
    rules: str | None = None,
) -> list[tuple[IsvcState, str]]:
    """Strip the revisions of every saved ISVC that admission refuses now, in place; ISVCs
    admitted under ``rules`` (:func:`admission_rules`, when not None) are not looked at, the
    others are marked with it when they pass.

    Returns each such ISVC with the message. Component revision names are kept (the generation
    is their count) while their specs go, so a fixed apply
    creates the next revision number instead of reusing the name of one that may still have
    replicas to clean up.
    """
    refused: list[tuple[IsvcState, str]] = []
    for _, isvc in sorted(state.isvcs.items()):
        if rules is not None and isvc.admitted == rules:
            continue
        message = _refusal(isvc, settings, check)
        isvc.admitted = rules if message is None else None
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
