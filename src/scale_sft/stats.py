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
