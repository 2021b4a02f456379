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


def test_mean_curve_averages_pointwise_and_refuses_curves_of_other_lengths():
    a = [{"tokens": 10, "accuracy": 0.2}, {"tokens": 20, "accuracy": 0.6}]
    b = [{"tokens": 30, "accuracy": 0.4}, {"tokens": 40, "accuracy": 1.0}]
    assert reproduce.mean_curve([a, b]) == [
        {"tokens": 20, "accuracy": pytest.approx(0.3)},
        {"tokens": 30, "accuracy": pytest.approx(0.8)},
    ]
    with pytest.raises(ValueError):
        reproduce.mean_curve([a, b[:1]])


def test_reach_lines_report_each_seed_and_the_mean_share_where_scale_reached_the_target():
    def row(seed, name, tokens, share):
        return {
            "seed": seed,
            "name": name,
            "target_accuracy": 0.8,
            "tokens_to_target": tokens,
            f"tokens_to_target_vs_{reproduce.REFERENCE}": share,
            f"cpu_s_to_target_vs_{reproduce.REFERENCE}": None if share is None else share / 2,
        }

    runs = [
        row(0, "scale_sft", 2e6, 0.25),
        row(0, reproduce.REFERENCE, 8e6, 1.0),
        row(1, "scale_sft", None, None),
        row(1, reproduce.REFERENCE, 6e6, 1.0),
        row(2, "scale_sft", 3e6, 0.75),
        row(2, reproduce.REFERENCE, 4e6, 1.0),
    ]
    lines = reproduce.reach_lines(runs)
    assert lines[2] == "| 0 | 0.800 | 2.00 | 8.00 | 0.250 | 0.125 |"
    assert lines[3] == "| 1 | 0.800 | not reached | 6.00 | not reached | not reached |"
    assert lines[-1].endswith(
        "on 2 of 3 seeds; where it did, with 0.500 of the tokens and 0.250 of the CPU seconds SFT + GRPO "
        "needed (mean)."
    )
