"""cProfile the control plane's share of ``bench/scale_isvcs.py``'s steps at one size.

    python bench/controlplane_profile.py [--n 1000] [--singles 10] [--top 25] [--sort tottime]

A real platform in-process (process backend, fresh state dir, the settings of
``scale_isvcs.py``): applies N zero-scale ISVCs in one file, then ``--singles`` single ISVCs,
lists the namespace, closes and starts again on the same state dir; each step's wall time is
printed with the profile of that step (the profiler slows each step down about twofold); steps
left out of ``--steps`` are timed without the profiler (``--steps none``: only timings).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import pstats
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import aiohttp
from scale_isvcs import ZERO, _Api, _options, _settings

from minikn.modelserver.examples import ensure_example_models
from minikn.platform.server import Platform

T = TypeVar("T")


async def _profiled(label: str, step: Callable[[], Awaitable[T]], top: int, sort: str) -> T:
    prof = cProfile.Profile()
    t = time.perf_counter()
    prof.enable()
    try:
        return await step()
    finally:
        prof.disable()
        out = io.StringIO()
        pstats.Stats(prof, stream=out).sort_stats(sort).print_stats(top)
        print(f"=== {label}: {time.perf_counter() - t:.3f} s (profiled)\n{out.getvalue()}")


async def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--singles", type=int, default=10)
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--sort", default="tottime")
    ap.add_argument("--steps", default="apply,single,list,restart")
    args = ap.parse_args(argv)
    steps = set(args.steps.split(","))
    with tempfile.TemporaryDirectory() as tmp:
        models = Path(tmp) / "models"
        ensure_example_models(models, ["sklearn-iris"])
        model = models / "sklearn-iris"
        state = Path(tmp) / "state"
        settings = _settings(models)
        p = Platform(settings, _options(state))
        await p.start()
        text = "---\n".join(ZERO.format(name=f"m-{i:05d}", model=model) for i in range(args.n))
        async with aiohttp.ClientSession() as session:
            api = _Api(session, p)
            if "apply" in steps:
                await _profiled("apply all", lambda: api.apply(text), args.top, args.sort)
            else:
                t = time.perf_counter()
                await api.apply(text)
                print(f"=== apply all: {time.perf_counter() - t:.3f} s")
            await asyncio.sleep(0.5)

            async def singles() -> None:
                for i in range(args.singles):
                    await api.apply(ZERO.format(name=f"one-{i:03d}", model=model))

            if "single" in steps:
                await _profiled(f"{args.singles} single applies", singles, args.top, args.sort)
            elif args.singles:
                one = []
                for i in range(args.singles):
                    one.append(await api.apply(ZERO.format(name=f"one-{i:03d}", model=model)))
                print(f"=== single apply: median {statistics.median(one) * 1000:.1f} ms")
            if "list" in steps:
                await _profiled("list all", lambda: api.list(None), args.top, args.sort)
        await p.close()
        p2 = Platform(settings, _options(state))
        if "restart" in steps:
            await _profiled("restart", p2.start, args.top, args.sort)
        else:
            t = time.perf_counter()
            await p2.start()
            print(f"=== restart: {time.perf_counter() - t:.3f} s")
        await p2.close()
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    sys.exit(asyncio.run(main(sys.argv[1:])))
