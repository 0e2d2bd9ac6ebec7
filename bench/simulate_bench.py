"""Benchmark of the in-silico trial (issue 6): the vectorized power path.

`bench_power()` simulates 10,000 trials of 48 participants and runs the primary ANCOVA on each
(target under 10 s on the project's 2-core machine) and prints the measured figure. The lead wires
it into `make bench` (bench/run.py).
"""

from __future__ import annotations

import time

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


if __name__ == "__main__":
    bench_power()
