"""Windowed metric averages in 1-second buckets, and the max-over-time window of scale-down-delay.

Pure. Mirrors knative/serving ``pkg/autoscaler/aggregation/bucketing.go`` (``TimedFloat64Buckets``,
``WeightedFloat64Buckets``) and ``aggregation/max/timewindow.go``. Times are seconds on any
monotonic clock; a bucket is ``floor(t)`` (Knative uses the Unix second; only differences matter).
"""

from __future__ import annotations

import bisect
import math
from typing import Protocol

__all__ = [
    "LinearWindow",
    "MaxQueue",
    "MetricWindow",
    "WeightedWindow",
    "ZeroReports",
    "make_window",
    "max_window_push",
    "smoothing_coefficient",
]

_PRECISION = 1e6
"""Linear averages are floored to 6 decimal places (``roundToNDigits`` uses math.Floor)."""
_WEIGHT_PRECISION = 0.9999
_MIN_EXPONENT = 0.2


class MetricWindow(Protocol):
    """A windowed average of per-second samples."""

    def record(self, t: float, value: float) -> None: ...
    def average(self, now: float) -> float: ...
    def is_empty(self, now: float) -> bool: ...
    def has_signal(self, now: float) -> bool: ...


class LinearWindow:
    """Knative's ``linear`` algorithm: the mean of the valid 1-second buckets.

    Edge rules (bucketing.go):

    * partial window: until a full window of data exists the divisor is the number of seconds
      since the first write, e.g. 10 at t=0..4 in a 60 s window reads 10, not 50/60;
    * stale tail: ``d`` seconds after the last write the last ``d`` buckets are dropped and the
      divisor is ``min(span, n - d)``: silence is not counted as zeros;
    * a whole window with no write resets the window (the next write starts a partial window);
    * writes older than a window are dropped; samples in the same second are summed.
    """

    __slots__ = ("_buckets", "_first", "_hot", "_last", "_n", "_total")

    def __init__(self, window: float) -> None:
        self._n = max(1, math.ceil(window))
        self._buckets = [0.0] * self._n
        self._first: int | None = None
        self._last: int | None = None
        self._total = 0.0
        self._hot: int | None = None
        """The latest bucket a non-zero sample was written to (see :meth:`_cold`)."""

    @property
    def size(self) -> int:
        """Number of 1-second buckets."""
        return self._n

    def record(self, t: float, value: float) -> None:
        b = math.floor(t)
        last, n = self._last, self._n
        if last is None:
            self._first = self._last = b
        elif b != last:
            if b + n <= last:
                return  # older than the window: ignored
            if self._first is None or self._first > b:
                self._first = b
            if b > last:
                if b - last >= n:
                    # A window of silence: reset, the next average is a partial window again.
                    self._first = b
                    self._buckets = [0.0] * n
                    self._total = 0.0
                else:
                    buckets = self._buckets
                    for i in range(last + 1, b + 1):
                        idx = i % n
                        self._total -= buckets[idx]
                        buckets[idx] = 0.0
                self._last = b
        self._buckets[b % n] += value
        self._total += value
        if value and (self._hot is None or b > self._hot):
            self._hot = b

    def _cold(self) -> bool:
        """Every bucket holds 0.0: no non-zero sample was written, or the window has moved a
        whole window past the latest one (each advance zeroes the buckets it passes)."""
        hot, last = self._hot, self._last
        return hot is None or (last is not None and last - hot >= self._n)

    def is_empty(self, now: float) -> bool:
        """No write within the window (Knative's ``IsEmpty``: now - lastWrite > window)."""
        return self._last is None or math.floor(now) - self._last > self._n

    def has_signal(self, now: float) -> bool:
        """Some bucket the average at ``now`` covers holds a non-zero sample.

        Exact, unlike ``average(now) > 0``: the running total of a window whose samples were all
        evicted can keep a float residue (0.1 + 0.7 - 0.1 - 0.7 = -1.1e-16), which the floor
        rounding turns into -1e-06. Knative decides "empty" by bucket presence too.
        """
        last, first = self._last, self._first
        if last is None or first is None:
            return False
        n = self._n
        d = max(0, math.floor(now) - last)
        if d >= n:
            return False
        buckets = self._buckets
        oldest = max(first, last - n + 1 + d)
        return any(buckets[i % n] != 0.0 for i in range(oldest, last + 1))

    def average(self, now: float) -> float:
        last, first = self._last, self._first
        if last is None or first is None:
            return 0.0
        n = self._n
        d = math.floor(now) - last
        span = last - first + 1
        if d <= 0:
            return _floored(self._total / min(span, n))
        if d < n:
            ret = self._total
            buckets = self._buckets
            for i in range(last + 1, last + d + 1):
                ret -= buckets[i % n]
            return _floored(ret / min(span, n - d))
        return 0.0


def _floored(mean: float) -> float:
    """``mean`` floored to 6 decimals; never below 0 (samples are >= 0, so a negative mean is the
    running total's rounding residue: -2e-16 would floor to -1e-06)."""
    return max(0.0, math.floor(mean * _PRECISION) / _PRECISION)


def smoothing_coefficient(buckets: int) -> float:
    """a = max(1 - (1 - 0.9999)^(1/n), 0.2): 0.2 for 60 buckets, ~0.785 for 6."""
    return max(1.0 - math.pow(1.0 - _WEIGHT_PRECISION, 1.0 / buckets), _MIN_EXPONENT)


class WeightedWindow(LinearWindow):
    """Knative's ``weighted-exponential``: sum of bucket*a(1-a)^age, newest first, not renormalized.

    Worked example (bucketing.go's comment, a=0.6): data [10, 10, 5, 5] newest last ->
    5*0.6 + 5*0.6*0.4 + 10*0.6*0.4^2 + 10*0.6*0.4^3 = 5.544. ``d`` idle seconds after the last
    write the series starts at a(1-a)^d and covers ``n - d`` buckets. Not rounded.
    """

    __slots__ = ("alpha",)

    def __init__(self, window: float) -> None:
        super().__init__(window)
        self.alpha = smoothing_coefficient(self._n)

    def average(self, now: float) -> float:
        last = self._last
        if last is None or self.is_empty(now):
            return 0.0
        n, alpha = self._n, self.alpha
        num = n
        multiplier = alpha
        d = math.floor(now) - last
        if d > 0:
            multiplier *= (1.0 - alpha) ** d
            num -= d
        buckets = self._buckets
        ret = 0.0
        for i in range(num):
            ret += buckets[(last - i) % n] * multiplier
            multiplier *= 1.0 - alpha
        return ret


class ZeroReports:
    """Zero stats reported at once to every idle revision, recorded into each window lazily.

    minikn's activator reports a stat for every revision every second, a zero for each idle one
    (and the autoscaler's windows count it: the zeros move a window's last write on, which decides
    its stale tail and whether the next demand starts a partial window). Recording those zeros
    one by one costs every idle revision every second. Instead the report's time is appended here
    once (:meth:`append`); a window that must be read or written first catches up
    (:meth:`replay`), with exactly the state the zeros recorded one at a time would have left.

    How replay stays cheap: a zero changes a window whose buckets are all 0.0 (it is "cold") only
    through ``_last`` (moved to the zero's second), and, when it comes ``n`` or more seconds after
    the last write, a reset (``_first`` to that second, ``_total`` to 0.0). So the zeros a cold
    window has not seen collapse to: ``_last`` = the latest one's second; and the reset of the
    latest report that came ``n`` or more seconds after the one before it, found in a stack of the
    gaps between reports that no later gap equals or exceeds (gaps are small integers, so the
    stack is a few entries). Until a window is cold (at most ``n`` seconds of zeros) the zeros
    are recorded one at a time.

    Reports are numbered from 0 (:attr:`seq` is the next number); :meth:`forget` drops every
    report once every window has seen them (the caller's periodic sweep)."""

    __slots__ = ("_base", "_gap_neg", "_gap_seq", "_prev", "_times")

    def __init__(self) -> None:
        self._base = 0
        """Number of the first report in ``_times``."""
        self._times: list[int] = []
        """The second (floored time) of each report not yet forgotten."""
        self._gap_seq: list[int] = []
        self._gap_neg: list[int] = []
        """Stack of (report number, -gap to the report before it): strictly decreasing gaps, so
        the negated ones ascend (bisect)."""
        self._prev: int | None = None

    @property
    def seq(self) -> int:
        """The number the next report gets (= reports so far)."""
        return self._base + len(self._times)

    def append(self, t: float) -> None:
        """A zero at ``t`` for every idle revision (times never go back)."""
        b = math.floor(t)
        if self._prev is not None:
            gap = b - self._prev
            seqs, negs = self._gap_seq, self._gap_neg
            while negs and -negs[-1] <= gap:
                negs.pop()
                seqs.pop()
            seqs.append(self.seq)
            negs.append(-gap)
        self._prev = b
        self._times.append(b)

    def forget(self) -> None:
        """Drop the reports so far: every window has replayed them."""
        self._base = self.seq
        self._times = []
        self._gap_seq.clear()
        self._gap_neg.clear()

    def replay(self, window: LinearWindow, since: int) -> None:
        """Record into ``window`` a zero at every report numbered ``since`` or later, leaving the
        state ``window.record(t, 0.0)`` for each in turn would."""
        times, base = self._times, self._base
        i, end = since - base, len(times)
        if i < 0:
            raise ValueError(f"report {since} was forgotten (reports start at {base})")
        b = 0
        while i < end:
            b = times[i]
            last = window._last
            if last is not None and b > last and window._cold():
                break
            window.record(b, 0.0)
            i += 1
        else:
            return
        assert last is not None
        n = window._n
        reset = b if b - last >= n else None
        k = bisect.bisect_right(self._gap_neg, -n) - 1  # the latest report with gap >= n
        if k >= 0 and self._gap_seq[k] - base > i:
            reset = times[self._gap_seq[k] - base]
        if reset is not None:
            window._first = reset
            window._buckets = [0.0] * n
            window._total = 0.0
        window._last = times[end - 1]


def make_window(algorithm: str, window: float) -> LinearWindow:
    """The window of ``algorithm`` (``linear`` or ``weighted-exponential``)."""
    if algorithm in ("weighted-exponential", "weightedExponential"):
        return WeightedWindow(window)
    return LinearWindow(window)


MaxQueue = tuple[tuple[int, int], ...]
"""Monotonic (slot, value) queue, largest value at the front: a max-over-time window's state."""


def max_window_push(
    queue: MaxQueue, t: float, value: int, *, duration: float, granularity: float = 2.0
) -> tuple[MaxQueue, int]:
    """Record ``value`` at ``t`` and return (new queue, max over the last ``duration`` seconds).

    Knative's scale-down-delay window (``max.NewTimeWindow(delay, tickInterval=2s)``): a slot is
    ``floor(t / granularity)``; the maximum covers the ``ceil(duration / granularity)`` newest
    slots.
    Worked example (delay 10 s, 2 s slots -> 5 slots): values 5@t=0, 2@t=2, then at t=10 slot 5
    evicts slot 0 and the max falls to 2.
    """
    size = max(1, math.ceil(duration / granularity))
    slot = math.floor(t / granularity)
    kept = [item for item in queue if item[0] > slot - size]
    while kept and kept[-1][1] <= value:
        kept.pop()
    kept.append((slot, value))
    return tuple(kept), kept[0][1]
