"""Which timeout a client connection is under, and whether it ran out (pure; no clock, no I/O).

A connection is in one phase at a time, each with its own limit from ``minikn.router``:

=========  ===========================================  =====================  ================
phase      what the ingress waits for                   limit                  on expiry
=========  ===========================================  =====================  ================
HEAD       a request head (a new connection: from the   requestHeadTimeout     408, then close
           accept on; silent close if nothing came)
BODY       more of a request body (reading not paused)  bodyIdleTimeout        408, then close
IDLE       the next request on a kept-alive connection  keepAliveTimeout       close silently
BUSY       nothing: a request is served, or reading is  none (the activator's  -
           paused by minikn (backpressure, pipelining)  request timeout)
LINGER     the client to close after an error answer    lingeringTime          close
=========  ===========================================  =====================  ================

One sweep (the router's, every ``timeoutResolution``) shows each connection its phase and a
progress counter; the clock restarts when either changes. HEAD's progress is the number of heads
parsed, so a head sent one byte at a time (slowloris) still runs out; BODY's and IDLE's is the
number of bytes received, so any byte restarts them. A timeout thus fires between its due time
and one resolution later, and the data path itself never reads the clock.
"""

from __future__ import annotations

import enum

from minikn.config.router import RouterConfig

__all__ = ["Phase", "Watch", "limit"]


class Phase(enum.Enum):
    HEAD = "head"
    BODY = "body"
    IDLE = "idle"
    BUSY = "busy"
    LINGER = "linger"


def limit(phase: Phase, config: RouterConfig) -> float | None:
    """Seconds ``phase`` may last without progress (None: no limit)."""
    if phase is Phase.HEAD:
        return config.request_head_timeout
    if phase is Phase.BODY:
        return config.body_idle_timeout
    if phase is Phase.IDLE:
        return config.keep_alive_timeout
    if phase is Phase.LINGER:
        return config.lingering_time
    return None


class Watch:
    """What the last sweep saw of one connection, and since when."""

    __slots__ = ("phase", "progress", "since")

    def __init__(self, phase: Phase, since: float) -> None:
        self.phase = phase
        self.progress = 0
        self.since = since

    def expired(self, phase: Phase, progress: int, now: float, config: RouterConfig) -> bool:
        """Observe the connection at ``now``; True when it stayed in ``phase`` without progress
        for longer than the phase allows."""
        if phase is not self.phase or progress != self.progress:
            self.phase, self.progress, self.since = phase, progress, now
            return False
        seconds = limit(phase, config)
        return seconds is not None and now - self.since >= seconds
