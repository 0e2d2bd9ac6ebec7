"""Benchmark of the SAP analyses and the DSMB report (issue 7).

`bench_analysis()` simulates a trial of 48 and one of 20,000 participants, then times the full
analysis (every SAP analysis) and the closed report (HTML, PDF, ard.json, datasets) on each, and
prints the times and the process's peak resident memory. Targets on the project's 2-core machine:
under 10 s for 48 and under 2 minutes for 20,000 (analysis and report), memory under 4 GiB. The
simulation itself (screening, allocation, daily courses) is timed separately: it is the
simulator's work, not the analysis's. The lead wires it into `make bench` (bench/run.py).
"""

from __future__ import annotations

import resource
import sys
import tempfile
import time
from pathlib import Path

SIZES = ((48, 10.0), (20_000, 120.0))
MEMORY_TARGET_GIB = 4.0
SEED = 20201220


def _peak_rss_gib() -> float:
    # ru_maxrss is in KiB on Linux, bytes on macOS
    scale = 1 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2**30


def bench_analysis() -> None:
    from iliad7.analysis.analyses import run_all
    from iliad7.analysis.from_simulation import simulated_trial
    from iliad7.analysis.report import write_report

    for n, target in SIZES:
        started = time.perf_counter()
        trial = simulated_trial(n, SEED)
        simulated = time.perf_counter() - started
        started = time.perf_counter()
        results = run_all(trial.data)
        analysed = time.perf_counter() - started
        with tempfile.TemporaryDirectory() as tmp:
            started = time.perf_counter()
            write_report(Path(tmp), trial.data, results, trial.consort, closed=True, source=f"bench n={n}")
            reported = time.perf_counter() - started
        total = analysed + reported
        fallbacks = sum(r.fallback for r in results)
        print(
            f"analysis: n={n:,}: {len(results)} analyses in {analysed:.2f} s + report {reported:.2f} s = "
            f"{total:.2f} s (target < {target:.0f} s; {fallbacks} fell back); simulation and derivation "
            f"{simulated:.1f} s; peak RSS {_peak_rss_gib():.2f} GiB (target < {MEMORY_TARGET_GIB:.0f} GiB)",
            flush=True,
        )


if __name__ == "__main__":
    bench_analysis()
