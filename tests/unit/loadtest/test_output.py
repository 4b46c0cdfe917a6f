"""The CSV and PNG a load run writes."""

from __future__ import annotations

import csv
from pathlib import Path

from minikn.loadtest.coldstart import ReplicaSample
from minikn.loadtest.output import CSV_COLUMNS, write_csv, write_plot
from minikn.loadtest.stats import RequestRecord

_RECORDS = [
    RequestRecord(0.5, 0.01, 200, revision="iris-predictor-00001"),
    RequestRecord(0.0, 1.2, 200),
    RequestRecord(0.6, 0.3, 0, error="timeout"),
]


def test_csv_has_one_row_per_request_in_start_order(tmp_path: Path) -> None:
    path = tmp_path / "run.csv"
    write_csv(path, _RECORDS, wall_origin=1000.0, ready_at=0.4)
    with path.open() as fh:
        rows = list(csv.DictReader(fh))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert [r["start_s"] for r in rows] == ["0.000000", "0.500000", "0.600000"]
    assert rows[0]["start_unix"] == "1000.000000"
    assert [r["cold_start"] for r in rows] == ["1", "0", "0"]
    assert rows[1]["revision"] == "iris-predictor-00001"
    assert (rows[2]["status"], rows[2]["error"]) == ("0", "timeout")


def test_plot_writes_a_png(tmp_path: Path) -> None:
    path = tmp_path / "run.png"
    samples = [ReplicaSample(0.0, 0, 1), ReplicaSample(1.0, 1, 1)]
    write_plot(path, _RECORDS, samples, title="iris")
    assert path.read_bytes().startswith(b"\x89PNG")
    write_plot(tmp_path / "bare.png", _RECORDS, [], title="no replicas")
    assert (tmp_path / "bare.png").stat().st_size > 0


def test_plot_with_a_cold_start_adds_the_phase_bar(tmp_path: Path) -> None:
    phases = (("gpu", 0.0), ("storage", 0.2), ("create", 0.1), ("load", 0.3), ("handover", 0.01))
    records = [RequestRecord(0.0, 0.7, 200, cold_start=phases), *_RECORDS[1:]]
    path = tmp_path / "cold.png"
    write_plot(path, records, [ReplicaSample(0.0, 0, 1), ReplicaSample(1.0, 1, 1)], title="x")
    assert path.read_bytes().startswith(b"\x89PNG")
