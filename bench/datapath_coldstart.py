"""Cold-start benchmark: time to the first response of a request to a zero-replica revision, minus
the replica's own create-to-ready time (the platform's overhead: poke, scale, endpoint update,
dispatch of the buffered request, connect, proxy).

    python bench/datapath_coldstart.py [--runs 15]

The replica is a local process (the trivial server of bench/datapath_warm.py); its create-to-ready
time is measured by the harness's replica factory from spawn to the first accepted connection.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import sys
import time

from minikn.core.endpoints import Endpoint
from minikn.core.revision import RevisionSpec
from minikn.testing.datapath import StartedReplica, running_datapath
from minikn.testing.fake_replicas import isvc_route, revision, table, to

_WARM = os.path.join(os.path.dirname(os.path.abspath(__file__)), "datapath_warm.py")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def process_replica(spec: RevisionSpec, replica_id: str) -> StartedReplica:
    """Spawn the trivial server and return once it accepts connections (polled every 2 ms)."""
    del spec
    port = _free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, _WARM, "--serve-upstream", str(port)
    )
    while True:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            await writer.wait_closed()
            break
        except OSError:
            await asyncio.sleep(0.002)

    async def stop() -> None:
        proc.terminate()
        await proc.wait()

    return StartedReplica(Endpoint(replica_id, "127.0.0.1", port), stop)


async def _request(port: int) -> float:
    """Send one request; return seconds to the complete response."""
    started = time.perf_counter()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /v1/models/cold:predict HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    data = await reader.read()
    elapsed = time.perf_counter() - started
    writer.close()
    await writer.wait_closed()
    assert data.startswith(b"HTTP/1.1 200"), data[:100]
    return elapsed


async def one_cold_start() -> tuple[float, float]:
    spec = revision("cold")
    routes = table(isvc_route("cold", predictor=[to(spec)]))
    async with running_datapath(routes, [spec], process_replica) as dp:
        total = await _request(dp.port)
        ready = dp.replicas.ready_seconds[0]
    return total, ready


async def main_async(runs: int) -> None:
    rows = [await one_cold_start() for _ in range(runs)]
    totals = [t for t, _ in rows]
    readies = [r for _, r in rows]
    overheads = sorted((t - r) * 1000 for t, r in rows)
    p90 = overheads[int(0.9 * (len(overheads) - 1))]
    print(
        f"{'runs':>4} {'first response p50':>18} {'replica ready p50':>17} {'overhead p50':>12} "
        f"{'overhead p90':>12}  (ms)"
    )
    print(
        f"{runs:>4} {statistics.median(totals) * 1000:>18.1f} "
        f"{statistics.median(readies) * 1000:>17.1f} {statistics.median(overheads):>12.2f} "
        f"{p90:>12.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    asyncio.run(main_async(args.runs))


if __name__ == "__main__":
    main()
