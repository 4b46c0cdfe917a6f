"""kubectl-style columns and ages of the CLI."""

from __future__ import annotations

import pytest

from minikn.cli.commands.common import age
from minikn.cli.commands.get import isvc_row


def test_get_row_shows_prev_and_latest_percentages_during_a_canary() -> None:
    """The columns follow KServe's printer columns: PREVROLLEDOUTREVISION is the traffic entry
    tagged prev (not status.previousRolledoutRevision), LATESTREADYREVISION the latest one."""
    item = {
        "metadata": {"name": "iris", "creationTimestamp": "2023-11-14T22:13:20Z"},
        "status": {
            "url": "http://iris.default.example.com",
            "conditions": [{"type": "Ready", "status": "True"}],
            "components": {
                "predictor": {
                    "latestReadyRevision": "iris-predictor-00002",
                    "previousRolledoutRevision": "iris-predictor-00000",
                    "traffic": [
                        {
                            "revisionName": "iris-predictor-00002",
                            "percent": 10,
                            "latestRevision": True,
                        },
                        {
                            "revisionName": "iris-predictor-00001",
                            "percent": 90,
                            "latestRevision": False,
                            "tag": "prev",
                        },
                    ],
                }
            },
        },
    }
    row = isvc_row(item)
    assert row[:7] == [
        "iris",
        "http://iris.default.example.com",
        "True",
        "90",
        "10",
        "iris-predictor-00001",
        "iris-predictor-00002",
    ]


@pytest.mark.parametrize(
    ("seconds", "expected"), [(5, "5s"), (61, "1m"), (3 * 3600 + 5, "3h"), (2 * 86400, "2d")]
)
def test_age(seconds: int, expected: str) -> None:
    created = 1_700_000_000.0  # 2023-11-14T22:13:20Z
    assert age("2023-11-14T22:13:20Z", now=created + seconds) == expected
