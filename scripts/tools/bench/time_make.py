"""Time `make setup`, `make pipeline` and `make test` in a fresh clone, and print a table.

    python -m scripts.tools.bench.time_make [--cold-cache] [--skip TARGET ...]

The clone is made from this repository's HEAD in a temporary folder, with its own
BENTOML_HOME, so nothing here is touched. --cold-cache also gives uv an empty cache, so
`make setup` downloads every package as on a new machine.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from scripts.pipeline.params import PROJECT_ROOT

TARGETS = ("setup", "pipeline", "test")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cold-cache", action="store_true", help="start uv with an empty cache")
    parser.add_argument("--skip", nargs="*", default=[], choices=TARGETS, help="targets to skip")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="time-make-") as tmp:
        clone = Path(tmp) / "clone"
        subprocess.run(["git", "clone", "--quiet", str(PROJECT_ROOT), str(clone)], check=True)
        env = {**os.environ, "BENTOML_HOME": str(Path(tmp) / "bentoml")}
        if args.cold_cache:
            env["UV_CACHE_DIR"] = str(Path(tmp) / "uv-cache")
        rows = []
        for target in TARGETS:
            if target in args.skip:
                continue
            started = time.perf_counter()
            done = subprocess.run(["make", target], cwd=clone, env=env, capture_output=True)
            seconds = time.perf_counter() - started
            rows.append((target, seconds, done.returncode))
            if done.returncode != 0:
                sys.stderr.write(done.stdout.decode(errors="replace")[-3000:])
                sys.stderr.write(done.stderr.decode(errors="replace")[-3000:])
                break
    cache = "empty uv cache" if args.cold_cache else "warm uv cache"
    print(f"fresh clone of {PROJECT_ROOT.name} at HEAD, {os.cpu_count()} cores, {cache}\n")
    print("| command | wall time | exit |\n| --- | --- | --- |")
    for target, seconds, code in rows:
        print(f"| make {target} | {seconds:.1f} s | {code} |")
    return max((code for _, _, code in rows), default=0)


if __name__ == "__main__":
    sys.exit(main())
