"""A reader polling every request series copies only the series whose count moved."""

from __future__ import annotations

from minikn.telemetry.request_metrics import RequestCollector


def test_only_series_whose_request_count_moved_are_copied() -> None:
    requests = RequestCollector("c", "h")
    a = requests.series("default", "a", "predictor", "a-predictor-00001")
    b = requests.series("default", "b", "predictor", "b-predictor-00001")
    a.observe(200, 0.01)
    seen: dict[tuple[str, str, str, str], int] = {}
    first = requests.moved(seen)
    assert [labels[1] for labels, _, _ in first] == ["a", "b"]  # both new to the reader
    assert requests.moved(seen) == []
    b.count(503)
    ((labels, codes, buckets),) = requests.moved(seen)
    assert (labels[1], codes, sum(buckets)) == ("b", {503: 1}, 0)
    codes[503] = 99  # a copy: the series is untouched
    assert b.codes == {503: 1}
