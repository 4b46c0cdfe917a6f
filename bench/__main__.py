"""``python -m bench`` (``make bench``): run every ``bench/*.py`` script in turn.

Usage: python -m bench [NAME_SUBSTRING ...]   (no argument = all of them)
Each script prints its own table with the same-run baseline; this only runs them, reports which
failed, and exits non-zero when any did.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def scripts(filters: list[str]) -> list[Path]:
    # A script has a __main__ guard; helper modules (shared code) do not.
    found = sorted(
        p
        for p in HERE.glob("*.py")
        if not p.name.startswith("_") and "__main__" in p.read_text(encoding="utf-8")
    )
    return [p for p in found if not filters or any(f in p.stem for f in filters)]


def main(argv: list[str]) -> int:
    chosen = scripts(argv)
    if not chosen:
        print(f"no benchmark matches {argv}" if argv else "no benchmark in bench/")
        return 1
    failed: list[str] = []
    for script in chosen:
        print(f"\n==== {script.name} ====", flush=True)
        started = time.monotonic()
        code = subprocess.run(
            [sys.executable, str(script)], cwd=HERE.parent, check=False
        ).returncode
        print(f"==== {script.name}: exit {code} in {time.monotonic() - started:.1f}s ====")
        if code != 0:
            failed.append(script.name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
