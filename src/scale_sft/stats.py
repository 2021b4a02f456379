"""Seeded comparisons of pipelines: per-seed paired differences and percentile bootstrap intervals of their
mean (a difference is distinguishable from zero when its interval excludes zero)."""

from __future__ import annotations

import math
import random
import statistics


def bootstrap_ci(
    values: list[float], level: float = 0.95, resamples: int = 10_000, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``values`` (resampled with replacement, seeded)."""
    if not values:
        raise ValueError("bootstrap_ci needs at least one value.")
    rng = random.Random(seed)
    means = sorted(statistics.fmean(rng.choices(values, k=len(values))) for _ in range(resamples))
    tail = (1.0 - level) / 2.0
    return means[math.floor(tail * resamples)], means[math.ceil((1.0 - tail) * resamples) - 1]


def paired_differences(runs: list[dict], pipeline: str, baseline: str, metric: str) -> dict[int, float]:
    """``{seed: pipeline's metric - baseline's}`` over the seeds that ran both."""
    by_key = {(r["seed"], r["name"]): r for r in runs}
    seeds = sorted({r["seed"] for r in runs})
    return {
        s: by_key[s, pipeline][metric] - by_key[s, baseline][metric]
        for s in seeds
        if (s, pipeline) in by_key and (s, baseline) in by_key
    }


def sign_test(wins: int, losses: int) -> float:
    """Exact two-sided sign-test p-value of ``wins`` against ``losses`` (ties left out): the chance, were both
    equally likely, of a split at least this uneven. Paired items that two models disagree on are its input."""
    if wins < 0 or losses < 0:
        raise ValueError("sign_test needs non-negative counts.")
    n = wins + losses
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, k) for k in range(min(wins, losses) + 1)) / 2**n
    return min(1.0, 2 * tail)
