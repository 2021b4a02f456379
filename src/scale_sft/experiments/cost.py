"""What each pipeline costs against SFT + GRPO (the paper's comparison), in units machine load cannot bend.

Every key these functions add to a row is named by ``versus``, so reports and tests read the same names.
"""

from __future__ import annotations

from scale_sft.evaluation.curves import compute_to_reach
from scale_sft.experiments.pipeline import REFERENCE


def versus(key: str) -> str:
    """The row key of ``key`` as a share of the reference pipeline's (SFT + GRPO)."""
    return f"{key}_vs_{REFERENCE.name}"


def add_ratios(runs: list[dict]) -> None:
    """Each run's tokens, CPU seconds and wall-clock as a share of the reference pipeline's."""
    reference = next(r for r in runs if r["name"] == REFERENCE.name)
    for run in runs:
        for key, total in (
            ("tokens", "train_tokens"),
            ("cpu_s", "train_cpu_s"),
            ("wall_clock", "train_wall_clock_s"),
        ):
            run[versus(key)] = run[total] / reference[total]


def add_reach(runs: list[dict]) -> None:
    """The paper's claim as a measurement: the compute at which each run's curve first reaches the reference's
    (SFT + GRPO's) final accuracy (``tokens_to_target``, ``cpu_s_to_target``; None if never), and its share of
    what the reference needed to reach it (``versus("tokens_to_target")``, ``versus("cpu_s_to_target")``)."""
    reference = next(r for r in runs if r["name"] == REFERENCE.name)
    target = reference["accuracy"]
    for run in runs:
        run["target_accuracy"] = target
        for key in ("tokens", "cpu_s"):
            reach = compute_to_reach(run["curve"], target, key)
            run[f"{key}_to_target"] = reach
            needed = compute_to_reach(reference["curve"], target, key)
            run[versus(f"{key}_to_target")] = None if reach is None else reach / needed


def reach_sentence(run: dict) -> str:
    """What ``add_reach`` measured for ``run``, as a sentence of a report."""
    target = f"SFT + GRPO's final accuracy ({run['target_accuracy']:.3f})"
    if run["tokens_to_target"] is None:
        return f"{run['name']} did not reach {target} at any evaluated checkpoint."
    return (
        f"{run['name']} first reached {target} after {run['tokens_to_target']:,} tokens: "
        f"{run[versus('tokens_to_target')]:.3f} of the tokens and "
        f"{run[versus('cpu_s_to_target')]:.3f} of the CPU seconds SFT + GRPO needed to reach it "
        "(first evaluated checkpoint at or above it)."
    )
