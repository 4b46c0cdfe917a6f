"""The process that parses large API bodies never outlives the server, even a killed one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import psutil

SERVER = textwrap.dedent(
    """
    import asyncio, psutil
    from minikn.api.documents import DocumentLimits
    from minikn.apiserver.parsing import BodyParser

    async def main():
        parser = BodyParser(workers=1, process_bytes=1)
        body = await parser.parse("a: [1, 2]", "<t>", DocumentLimits(100, 10), as_json=False)
        assert body == [{"a": [1, 2]}], body
        [worker] = [c for c in psutil.Process().children() if "spawn_main" in c.cmdline()[-2]]
        print(worker.pid, flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())
    """
)


def test_the_parsing_worker_exits_when_the_server_is_killed() -> None:
    with subprocess.Popen(
        [sys.executable, "-c", SERVER], stdout=subprocess.PIPE, text=True, env=os.environ
    ) as server:
        assert server.stdout is not None
        worker = psutil.Process(int(server.stdout.readline()))
        os.kill(server.pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while worker.is_running() and worker.status() != psutil.STATUS_ZOMBIE:
        assert time.monotonic() < deadline, "the parsing worker outlived the killed server"
        time.sleep(0.05)  # polling the condition, bounded by the deadline


async def test_a_prestarted_worker_is_the_one_that_parses_the_first_large_body() -> None:
    import asyncio

    from minikn.api.documents import DocumentLimits
    from minikn.apiserver.parsing import BodyParser

    parser = BodyParser(workers=1, process_bytes=1)
    try:
        await asyncio.wrap_future(parser.prestart())  # the worker is up before any body
        [worker] = [c for c in psutil.Process().children() if "spawn_main" in c.cmdline()[-2]]
        body = await parser.parse("a: [1, 2]", "<t>", DocumentLimits(100, 10), as_json=False)
        assert body == [{"a": [1, 2]}]
        [parsed_by] = [c for c in psutil.Process().children() if "spawn_main" in c.cmdline()[-2]]
        assert parsed_by.pid == worker.pid
    finally:
        parser.close()
