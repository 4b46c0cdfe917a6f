"""``minikn describe`` shows each revision's last cold start by phase."""

from __future__ import annotations

from minikn.cli.commands.describe import COLD_START_COLUMNS, cold_start_rows


def test_each_revision_with_a_cold_start_gets_its_phases_and_total() -> None:
    revisions = {
        "m-predictor-00001": {
            "coldStart": {
                "replica": "m-predictor-00001-abc",
                "phases": {"gpu": 0.0, "storage": 0.5, "create": 0.25, "load": 1.0},
            }
        },
        "m-transformer-00001": {"replicas": {"ready": 1}},
    }
    rows = cold_start_rows(revisions)
    assert len(rows[0]) == len(COLD_START_COLUMNS)
    assert rows == [
        ("m-predictor-00001", "m-predictor-00001-abc", "0.000", "0.500", "0.250", "1.000", "-",
         "1.750"),
    ]  # fmt: skip
