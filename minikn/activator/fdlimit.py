"""The process's open-file limit, raised at start: every proxied request holds two sockets.

A burst of 10,000 requests holds 10,000 client connections at the ingress plus up to
``maxConnectionsPerReplica`` per replica; the usual soft limit (1024) is far below that, while the
hard limit (often 2^20) is not. Servers such as nginx (``worker_rlimit_nofile``) and Envoy's
launchers raise the soft limit the same way.
"""

from __future__ import annotations

import logging

__all__ = ["raise_open_file_limit"]

log = logging.getLogger("minikn.activator.fdlimit")


def raise_open_file_limit() -> int | None:
    """Raise RLIMIT_NOFILE's soft limit to the hard limit; the limit now in force, or None
    where the platform has no such limit (Windows)."""
    try:
        import resource  # POSIX only
    except ImportError:  # pragma: no cover - Windows
        return None
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == hard:
        log.info("open-file limit: %d (already the hard limit)", soft)
        return soft
    target = hard
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ValueError, OSError) as exc:
        # macOS refuses RLIM_INFINITY for the soft limit; its kernel cap is the next best.
        target = min(hard, 10_240) if hard != resource.RLIM_INFINITY else 10_240
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError):
            log.warning("open-file limit stays %d: cannot raise it (%s)", soft, exc)
            return soft
    log.info("open-file limit raised from %d to %d", soft, target)
    return target
