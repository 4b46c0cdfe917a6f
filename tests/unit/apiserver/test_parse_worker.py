"""The API's parse worker yields the CPU to the server's event loop and data path."""

from __future__ import annotations

import os

from minikn.apiserver.parsing import PARSE_NICE, BodyParser


async def test_the_parse_worker_runs_at_a_lower_priority_than_the_server() -> None:
    parser = BodyParser(workers=1, process_bytes=1)
    try:
        worker = await parser.run(1, os.nice, 0)
        in_thread = await parser.run(0, os.nice, 0)
    finally:
        parser.close()
    assert in_thread == os.nice(0)
    assert worker == min(os.nice(0) + PARSE_NICE, 19)
