"""``minikn describe`` shows, per live revision, the replicas and the autoscaler's numbers."""

from __future__ import annotations

from minikn.cli.commands.describe import SCALING_COLUMNS, scaling_rows


def test_scaling_rows_show_replicas_and_autoscaler_numbers() -> None:
    status_revisions = {
        "iris-predictor-00002": {
            "replicas": {"desired": 3, "ready": 2, "pending": 1, "reason": None, "message": None},
            "autoscaler": {
                "desired": 3,
                "stable": 140.0,
                "panic": 300.5,
                "target": 70.0,
                "panic_mode": True,
                "excess_burst_capacity": -211.0,
                "reason": "panic: ceil(300.5/70)=5 clamped",
            },
        },
        "iris-predictor-00001": {
            "replicas": {
                "desired": 1,
                "ready": 0,
                "pending": 1,
                "reason": "InsufficientGPU",
                "message": "needs 1 GPU, 0 free",
            },
        },
    }
    rows = scaling_rows(status_revisions)
    assert len(SCALING_COLUMNS) == len(rows[0])
    assert rows[0] == ("iris-predictor-00001", "1", "0", "1", "", "", "", "", "",
                       "InsufficientGPU: needs 1 GPU, 0 free")  # fmt: skip
    assert rows[1] == ("iris-predictor-00002", "3", "2", "1", "140.00", "300.50", "70", "yes",
                       "-211", "panic: ceil(300.5/70)=5 clamped")  # fmt: skip


def test_no_live_revisions_no_rows() -> None:
    assert scaling_rows({}) == []


def test_averages_a_hair_below_zero_show_as_zero_not_minus_zero() -> None:
    revisions = {"r": {"autoscaler": {"stable": -1e-12, "panic": -0.004}}}
    [row] = scaling_rows(revisions)
    stable, panic = row[SCALING_COLUMNS.index("STABLE")], row[SCALING_COLUMNS.index("PANIC")]
    assert (stable, panic) == ("0.00", "0.00")
