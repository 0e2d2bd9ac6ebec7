"""Benchmarks of the in-silico trial: the vectorized power path (issue 6), and every seed's cohort loads (issue 21).

`bench_power()` simulates 10,000 trials of 48 participants and runs the primary ANCOVA on each
(target under 10 s on the project's 2-core machine) and prints the measured figure.
`bench_cohort_seeds()` runs `iliad7 simulate cohort --n 48` for each of 20 seeds on its own fresh
SQLite database and checks that every one loads (exit 0, `iliad7 audit verify` ok): the tests check
the simulated values against the forms over 200 seeds of small cohorts without a database; these
full cohorts through the database (35-80 s each) are too slow for CI. Both run in `make bench`
(bench/run.py).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

POWER_TRIALS = 10_000
POWER_N = 48
POWER_TARGET_S = 10.0
SEED = 20201220


def bench_power() -> None:
    import numpy as np

    from iliad7.simulate.parameters import load_parameters
    from iliad7.simulate.power import CHUNK_TRIALS, ancova, simulate_trials

    params = load_parameters()
    started = time.perf_counter()
    rejections = 0
    for chunk, start in enumerate(range(0, POWER_TRIALS, CHUNK_TRIALS)):
        rng = np.random.default_rng([SEED, POWER_N, 1, chunk])
        batch = ancova(simulate_trials(params, rng, trials=min(CHUNK_TRIALS, POWER_TRIALS - start), n=POWER_N))
        rejections += int((batch.estimable & (batch.p_value < 0.05) & (batch.log_gmr > 0)).sum())
    elapsed = time.perf_counter() - started
    print(
        f"simulate power: {POWER_TRIALS:,} trials of {POWER_N} participants with the primary ANCOVA in "
        f"{elapsed:.2f} s ({POWER_TRIALS / elapsed:,.0f} trials/s; power {rejections / POWER_TRIALS:.3f} "
        f"at GMR {params.effect.alc_gmr.value:g}; target < {POWER_TARGET_S:.0f} s)"
    )


COHORT_SEEDS = tuple(range(1, 21))  # 1, 12 and 14 are the seeds that failed before issue 21
COHORT_N = 48


def bench_cohort_seeds(seeds: tuple[int, ...] = COHORT_SEEDS) -> None:
    iliad7 = Path(sys.executable).with_name("iliad7")
    times: list[float] = []
    failures: list[str] = []
    for seed in seeds:
        with tempfile.TemporaryDirectory() as home:
            env = {**os.environ, "ILIAD7_HOME": home}
            env.pop("DATABASE_URL", None)
            started = time.perf_counter()
            done = subprocess.run(
                [str(iliad7), "simulate", "cohort", "--n", str(COHORT_N), "--seed", str(seed)],
                capture_output=True, text=True, env=env,
            )  # fmt: skip
            elapsed = time.perf_counter() - started
            verify = subprocess.run(
                [str(iliad7), "audit", "verify", "--json"], capture_output=True, text=True, env=env
            )  # fmt: skip
            ok = done.returncode == 0 and verify.returncode == 0 and json.loads(verify.stdout or "{}").get("ok")
            if not ok:
                failures.append(f"seed {seed}: exit {done.returncode}: {done.stderr.strip()[-300:]}")
            times.append(elapsed)
            summary = done.stdout.strip().splitlines()[0] if done.stdout.strip() else done.stderr.strip()[-200:]
            print(f"  seed {seed}: {'ok' if ok else 'FAILED'} in {elapsed:.1f} s: {summary}", flush=True)
    print(
        f"simulate cohort: {len(seeds) - len(failures)} of {len(seeds)} seeds load ({COHORT_N} participants each, "
        f"SQLite, audit verified); {min(times):.1f} / {statistics.median(times):.1f} / {max(times):.1f} s "
        "min / median / max"
    )
    if failures:
        raise SystemExit("cohorts that did not load:\n" + "\n".join(failures))


if __name__ == "__main__":
    bench_power()
