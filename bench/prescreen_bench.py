"""Benchmark of the OMOP pre-screening (issue 15), for `make bench`.

Synthesizes a population (`iliad7 omop synth`, 1,000,000 persons unless ILIAD7_BENCH_PERSONS says
otherwise), pre-screens it on DuckDB (target: under 60 s on the project's 2-core machine, peak
memory printed), then on a local Spark session (ILIAD7_BENCH_SPARK=0 skips it) and checks that the
two outputs are byte-identical. Each run is the command as a hospital would type it, in its own
process; the figures are wall-clock time and the peak resident memory of that process.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PERSONS = int(os.environ.get("ILIAD7_BENCH_PERSONS", "1000000"))
TARGET_S = 60.0
SEED = 20210115


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 24):
            h.update(block)
    return h.hexdigest()


def _timed(command: list[str], cwd: Path) -> tuple[float, dict[str, object]]:
    """(wall-clock seconds, the run's own --json summary: persons, verdicts, peak_memory_mb, ...)."""
    started = time.perf_counter()
    done = subprocess.run([*command, "--json"], capture_output=True, text=True, check=False, cwd=cwd)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    summary: dict[str, object] = json.loads(done.stdout)
    return elapsed, summary


def bench_prescreen() -> None:
    iliad7 = str(Path(sys.executable).with_name("iliad7"))
    with tempfile.TemporaryDirectory(prefix="iliad7-bench-omop-") as tmp:
        folder, work = Path(tmp) / "omop", Path(tmp)
        started = time.perf_counter()
        made = subprocess.run(
            [iliad7, "omop", "synth", "--patients", str(PERSONS), "--seed", str(SEED), "--out", str(folder)],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        as_of = made.stdout.split("--as-of ")[-1].strip()
        print(
            f"omop synth: {PERSONS:,} persons in {time.perf_counter() - started:.1f} s ({made.stdout.splitlines()[0]})"
        )
        out = work / "duckdb.jsonl"
        command = [iliad7, "prescreen", "--omop", str(folder), "--as-of", as_of, "--out", str(out)]
        seconds, summary = _timed(command, work)
        print(
            f"prescreen (DuckDB): {PERSONS:,} persons in {seconds:.1f} s, "
            f"peak memory {summary['peak_memory_mb']:,.0f} MB "
            f"(target < {TARGET_S:.0f} s; the engine's part {summary['extract_seconds']} s); "
            f"{summary['candidates']:,} candidates; output {out.stat().st_size / 1e9:.2f} GB"
        )
        if os.environ.get("ILIAD7_BENCH_SPARK", "1") == "0":
            print("prescreen (Spark): skipped (ILIAD7_BENCH_SPARK=0)")
            return
        spark_out = work / "spark.jsonl"
        seconds, summary = _timed([*command[:-1], str(spark_out), "--engine", "spark"], work)
        same = _digest(out) == _digest(spark_out)
        print(
            f"prescreen (Spark local[2]): {PERSONS:,} persons in {seconds:.1f} s (the engine's part "
            f"{summary['extract_seconds']} s), peak memory of the Python driver {summary['peak_memory_mb']:,.0f} MB "
            f"(the JVM's not counted); output {'identical to' if same else 'DIFFERENT FROM'} DuckDB's"
        )
        if not same:
            raise SystemExit("Spark and DuckDB gave different output")


if __name__ == "__main__":
    bench_prescreen()
