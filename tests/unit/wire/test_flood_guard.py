"""The two floods an HTTP/2 server connection is closed for (FloodGuard)."""

from __future__ import annotations

from minikn.wire.h2server import RESET_FLOOR, UNREAD_FLOOD, FloodGuard


def test_sending_while_reading_nothing_is_a_flood_past_the_window_and_a_margin() -> None:
    guard = FloodGuard(connection_window=65_535)
    assert guard.read(10 << 20) is None  # the client reads: any amount
    guard.pause()
    assert guard.read(65_535 + UNREAD_FLOOD) is None
    assert guard.read(1) == "sends while it reads nothing"
    guard.resume()  # it read what it was sent: the count starts over
    guard.pause()
    assert guard.read(65_535) is None


def test_resetting_more_streams_than_are_answered_is_a_flood_past_a_floor() -> None:
    guard = FloodGuard(connection_window=65_535)
    assert all(guard.abandoned() is None for _ in range(RESET_FLOOR))
    assert guard.abandoned() == "resets the streams it opens (rapid reset)"
    patient = FloodGuard(connection_window=65_535)
    for _ in range(1_000):  # every other call cancelled: a client with deadlines
        patient.answered()
        assert patient.abandoned() is None
