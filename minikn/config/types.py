"""Value types shared by config groups: Knative-style durations and the frozen base model."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, PlainSerializer

__all__ = ["ConfigGroup", "Duration", "format_duration", "parse_duration"]

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(value: Any) -> float:
    """Parse a Go-style duration (``60s``, ``1m30s``, ``500ms``) or a number of seconds."""
    if isinstance(value, bool):
        raise ValueError("must be a duration such as 60s, not a boolean")
    if isinstance(value, int | float):
        return float(value)
    if not isinstance(value, str):
        raise ValueError(f"must be a duration such as 60s, got {type(value).__name__}")
    text = value.strip()
    if text in {"0", ""}:
        return 0.0
    pos, total = 0, 0.0
    for match in _DURATION_PART.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        pos = match.end()
    if pos != len(text) or pos == 0:
        raise ValueError(f"{value!r} is not a duration (use e.g. 60s, 1m30s, 500ms)")
    return total


def format_duration(seconds: float) -> str:
    """The shortest Go-style spelling used in the shipped YAML (``60s``, ``0s``, ``1.5s``)."""
    if seconds == int(seconds):
        return f"{int(seconds)}s"
    return f"{seconds}s"


Duration = Annotated[
    float,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str, when_used="json"),
]
"""Seconds, written in YAML as a Go duration."""


class ConfigGroup(BaseModel):
    """A frozen config group; YAML keys are the Knative/KServe spellings (aliases)."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)
