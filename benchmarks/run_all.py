"""Run every benchmark in turn (`make bench`); each writes benchmarks/results/<name>.json."""

from __future__ import annotations

import subprocess
import sys

BENCHMARKS = (
    ["benchmarks.import_throughput"],
    ["benchmarks.http_wrk"],
    ["benchmarks.profile_forecast"],
    ["benchmarks.batch_scaling"],
    ["benchmarks.neighbour_search"],
    ["benchmarks.visuelle_accuracy"],
    ["benchmarks.visuelle_rolling"],
    ["benchmarks.training_scale"],
    ["benchmarks.worker_recovery"],
)


def main() -> None:
    failed = []
    for module in BENCHMARKS:
        print(f"\n=== {module[0]} ===", flush=True)
        if subprocess.run([sys.executable, "-m", *module], check=False).returncode != 0:
            failed.append(module[0])
    if failed:
        sys.exit(f"failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
