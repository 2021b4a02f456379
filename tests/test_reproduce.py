"""The study's statistics (``experiments/reproduce.py``): bootstrap intervals and paired differences."""

import sys
from pathlib import Path

import pytest
import transformers

from scale_sft.experiments.cost import versus
from scale_sft.experiments.pipeline import REFERENCE

# importable by name, so the study's worker processes (spawned) can unpickle its functions
sys.path.append(str(Path(__file__).resolve().parents[1] / "experiments"))
import reproduce  # noqa: E402


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


def test_sign_test_matches_hand_computed_binomial_tails():
    from scale_sft.stats import sign_test

    assert sign_test(0, 0) == 1.0
    assert sign_test(3, 0) == pytest.approx(2 / 8)  # P(0 or 3 of 3) = 2 * 1/8
    assert sign_test(1, 4) == pytest.approx(2 * (1 + 5) / 32)  # 2 * P(X <= 1), X ~ Bin(5, 1/2)
    assert sign_test(4, 1) == sign_test(1, 4)  # two-sided: symmetric
    assert sign_test(5, 5) == 1.0  # an even split is capped at 1
    assert sign_test(2, 18) < 0.001 < sign_test(6, 14)  # 2 * 211 / 2**20 = 4.0e-4; 2 * 60460 / 2**20 = 0.115
    with pytest.raises(ValueError):
        sign_test(-1, 2)


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
            versus("tokens_to_target"): share,
            versus("cpu_s_to_target"): None if share is None else share / 2,
        }

    runs = [
        row(0, "scale_sft", 2e6, 0.25),
        row(0, REFERENCE.name, 8e6, 1.0),
        row(1, "scale_sft", None, None),
        row(1, REFERENCE.name, 6e6, 1.0),
        row(2, "scale_sft", 3e6, 0.75),
        row(2, REFERENCE.name, 4e6, 1.0),
    ]
    lines = reproduce.reach_lines(runs)
    assert lines[2] == "| 0 | 0.800 | 2.00 | 8.00 | 0.250 | 0.125 |"
    assert lines[3] == "| 1 | 0.800 | not reached | 6.00 | not reached | not reached |"
    assert lines[-1].endswith(
        "on 2 of 3 seeds; where it did, with 0.500 of the tokens and 0.250 of the CPU seconds SFT + GRPO "
        "needed (mean)."
    )


@pytest.mark.integration
def test_the_study_runs_end_to_end_at_smoke_budget_two_seeds_at_once(tmp_path, monkeypatch):
    """Two seeds in two worker processes: every pipeline's run with its curve in results.json, the report
    with every section, one log per seed; a second call with --resume reuses every run."""
    import json

    out, results = tmp_path / "study", tmp_path / "RESULTS.md"
    argv = ["reproduce.py", "--seeds", "0", "1", "--grpo_seeds", "0", "--budget", "smoke", "--jobs", "2"]
    argv += ["--output_dir", str(out), "--results", str(results), "--resume"]
    monkeypatch.setattr(sys, "argv", argv)
    reproduce.main()

    runs = json.loads((out / "results.json").read_text())
    text = results.read_text()
    expected = [(0, s.name) for s in reproduce.PIPELINES]
    expected += [(1, s.name) for s in reproduce.PIPELINES if s.trainer == "sft"]
    assert [(r["seed"], r["name"]) for r in runs] == expected
    # smoke: SFT checkpoint at step 2 of 4; GRPO at step 1 of 2, after its SFT stage's points
    for run in runs:
        assert [p["step"] for p in run["curve"]] == ([2, 4, 1, 2] if run["grpo"] else [2, 4])
    assert all("tokens_to_target" in r for r in runs if r["seed"] == 0)
    for run in (r for r in runs if not r["grpo"]):  # each SFT run's last logged segment losses
        logs = json.loads((out / f"seed{run['seed']}" / run["name"] / "trainer_state.json").read_text())
        last = [h for h in logs["log_history"] if "loss_think" in h][-1]
        assert (run["final_loss_think"], run["final_loss_answer"]) == (
            last["loss_think"],
            last["loss_answer"],
        )
    assert "final_loss_think" in text
    for section in ("## Paired differences", "## Compute: SCALe-SFT / (SFT + GRPO)", "## Compute to reach"):
        assert section in text
    assert "--jobs 2" in text and (tmp_path / "results" / "accuracy_compute.png").is_file()
    assert f"transformers {transformers.__version__}" in text  # the study names the versions that made it
    assert (out / "seed0" / "log.txt").stat().st_size > 0 and (out / "seed1" / "log.txt").stat().st_size > 0

    stamp = (out / "seed0" / "scale_sft" / "run.json").stat().st_mtime_ns
    reproduce.main()  # resumed: nothing is trained again, the same rows come back
    assert (out / "seed0" / "scale_sft" / "run.json").stat().st_mtime_ns == stamp
    assert json.loads((out / "results.json").read_text()) == runs
