"""The study's statistics (``benchmarks/reproduce.py``): bootstrap intervals and paired differences."""

import importlib.util
from pathlib import Path

import pytest

_SPEC = importlib.util.spec_from_file_location(
    "reproduce", Path(__file__).resolve().parents[1] / "benchmarks" / "reproduce.py"
)
reproduce = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(reproduce)


def test_bootstrap_ci_of_a_constant_is_that_constant():
    assert reproduce.bootstrap_ci([0.25] * 5) == (0.25, 0.25)


def test_bootstrap_ci_of_two_values_spans_them():
    # resampled means of [0, 1] are 0, 0.5 or 1 with probabilities 1/4, 1/2, 1/4: the 2.5% and 97.5%
    # quantiles are the extremes
    assert reproduce.bootstrap_ci([0.0, 1.0]) == (0.0, 1.0)


def test_bootstrap_ci_matches_the_exact_bootstrap_distribution():
    values = [-0.02, 0.01, 0.03, 0.05, 0.08]
    low, high = reproduce.bootstrap_ci(values, resamples=20_000)
    # exact percentile interval of the mean over all 5**5 equally likely resamples
    from itertools import product

    means = sorted(sum(c) / 5 for c in product(values, repeat=5))
    exact = means[int(0.025 * len(means))], means[int(0.975 * len(means))]
    assert low == pytest.approx(exact[0], abs=0.004) and high == pytest.approx(exact[1], abs=0.004)
    assert low > 0 > min(values)  # all but one seed positive: the mean is distinguishable from zero
    assert reproduce.bootstrap_ci(values) == reproduce.bootstrap_ci(values)  # seeded


def test_bootstrap_ci_straddles_zero_for_mixed_signs_and_rejects_nothing():
    low, high = reproduce.bootstrap_ci([-0.1, 0.1, -0.05, 0.05, 0.0])
    assert low < 0 < high
    with pytest.raises(ValueError):
        reproduce.bootstrap_ci([])


def test_paired_differences_use_only_seeds_with_both_runs():
    runs = [
        {"seed": 0, "name": "scale_sft", "accuracy": 0.9},
        {"seed": 0, "name": "vanilla_sft", "accuracy": 0.7},
        {"seed": 1, "name": "scale_sft", "accuracy": 0.8},
        {"seed": 1, "name": "vanilla_sft", "accuracy": 0.85},
        {"seed": 2, "name": "scale_sft", "accuracy": 0.6},
    ]
    paired = reproduce.paired_differences(runs, "scale_sft", "vanilla_sft", "accuracy")
    assert paired == {0: pytest.approx(0.2), 1: pytest.approx(-0.05)}
