"""`make bench` / `make bench-smoke`: every benchmark in turn, then the summary table (and,
for a full run, README's Performance table regenerated from the JSON)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common, report

BENCHES = [
    "webhook_throughput",
    "engine_overhead",
    "polling",
    "end_to_end",
    "latency",
    "dashboard",
    "campaign_pacing",
    "voice_turns",
]


def main() -> int:
    only = sys.argv[1:] or BENCHES
    failed = []
    for name in only:
        started = time.monotonic()
        print(f"=== {name}{' (smoke)' if common.SMOKE else ''}", flush=True)
        if subprocess.run([common.PY, str(common.ROOT / "bench" / f"{name}.py")], cwd=common.ROOT).returncode:
            failed.append(name)
        print(f"=== {name}: {time.monotonic() - started:.0f}s", flush=True)
    print(report.table(common.OUT))
    if not common.SMOKE and not failed:
        report.update_readme(common.OUT)
    if failed:
        print(f"FAILED: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
