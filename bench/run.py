"""`make bench`: throughput figures for the work that must stay fast.

Prints one line per benchmark. Figures depend on the machine; the targets are
those of the issues (e.g. 100,000 screening records judged in under 5 s on the
project's 2-core machine, JSON parsing included).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).parent))

from analysis_bench import bench_analysis
from prescreen_bench import bench_prescreen
from screening_inputs import generate
from simulate_bench import bench_cohort_seeds, bench_power

SCREEN_RECORDS = 100_000
SCREEN_TARGET_S = 5.0


def bench_screen() -> None:
    records = generate(SCREEN_RECORDS, seed=20201220)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "records.json"
        path.write_bytes(orjson.dumps(records))
        iliad7 = Path(sys.executable).with_name("iliad7")
        outputs = []
        for jobs in (1, 2):
            out_path = Path(tmp) / f"verdicts-{jobs}.json"
            with out_path.open("wb") as out:  # as a script would use it: `iliad7 screen --input f > out.json`
                started = time.perf_counter()
                command = [str(iliad7), "screen", "--jobs", str(jobs), "--input", str(path)]
                subprocess.run(command, stdout=out, check=True)
                elapsed = time.perf_counter() - started
            outputs.append(out_path.read_bytes())
            print(
                f"screen: {SCREEN_RECORDS:,} records in {elapsed:.2f} s with --jobs {jobs} "
                f"({SCREEN_RECORDS / elapsed:,.0f} records/s, one command, JSON in and out to a file; "
                f"target < {SCREEN_TARGET_S:.0f} s)"
            )
    assert outputs[0] == outputs[1], "the parallel path must give byte-identical output"
    results = orjson.loads(outputs[0])
    assert len(results) == SCREEN_RECORDS
    verdicts: dict[str, int] = {}
    for result in results:
        verdicts[result["verdict"]] = verdicts.get(result["verdict"], 0) + 1
    print(f"screen: verdicts {verdicts}")


def bench_cohort() -> None:
    """A 48-participant cohort through the full path (every action, SQLite), target under 60 s;
    then the closed report of that database (`iliad7 report --as`), target under 10 s."""
    iliad7 = Path(sys.executable).with_name("iliad7")
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "ILIAD7_HOME": home}
        env.pop("DATABASE_URL", None)
        started = time.perf_counter()
        done = subprocess.run(
            [str(iliad7), "simulate", "cohort", "--n", "48", "--seed", "20201220"],
            capture_output=True,
            text=True,
            check=True,
            env=env,
        )
        elapsed = time.perf_counter() - started
        summary = done.stdout.strip().splitlines()[0]
        print(f"simulate cohort: 48 participants through the full path in {elapsed:.1f} s (target < 60 s): {summary}")
        started = time.perf_counter()
        subprocess.run(
            [str(iliad7), "report", "--out", str(Path(home) / "report"), "--as", "sim-statistician"],
            capture_output=True,
            text=True,
            check=True,
            env=env,
        )
        elapsed = time.perf_counter() - started
        print(f"report of the database: 48 participants, closed report in {elapsed:.1f} s (target < 10 s)")


BENCHMARKS = {
    "screen": bench_screen,
    "power": bench_power,
    "cohort": bench_cohort,
    "analysis": bench_analysis,
    "prescreen": bench_prescreen,
    "cohort-seeds": bench_cohort_seeds,
}

if __name__ == "__main__":
    # `python bench/run.py [NAME ...]`: the named benchmarks only (default: all, as `make bench` runs them).
    for name in sys.argv[1:] or list(BENCHMARKS):
        BENCHMARKS[name]()
