"""Accuracy against training compute along a run: its checkpoints evaluated and placed on a compute axis.

A checkpoint's compute is its ``compute.json`` (written by ``scale_sft.compute.CheckpointCompute``); the final
model's is ``run.json``'s ``compute``. Tokens are those through forward/backward passes plus GRPO's generated
ones, as in the run's own record. A GRPO run's curve continues its SFT stage's: every GRPO point adds the SFT
stage's total compute, so pipelines compare on the compute they spent from scratch.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

from scale_sft.compute import COMPUTE_FILE

CURVE_METRICS = ("accuracy", "reasoning_correct_rate")


def compute_tokens(compute: dict) -> int:
    """A compute record's tokens: forward/backward plus generated (GRPO)."""
    return compute["train_tokens"] + compute.get("generated_tokens", 0)


def checkpoints(run_dir: Path) -> list[Path]:
    """The run's ``checkpoint-N`` folders that record their compute, by step."""
    found = [p for p in run_dir.glob(f"{PREFIX_CHECKPOINT_DIR}-*") if (p / COMPUTE_FILE).is_file()]
    return sorted(found, key=lambda p: int(p.name.rsplit("-", 1)[1]))


def _point(step: int, compute: dict, metrics_file: Path, offset: dict) -> dict:
    overall = json.loads(metrics_file.read_text())["overall"]
    return {
        "step": step,
        "tokens": offset["tokens"] + compute_tokens(compute),
        "cpu_s": offset["cpu_s"] + compute["cpu_s"],
        **{m: overall[m] for m in CURVE_METRICS},
    }


def accuracy_curve(
    run_dir: Path, evaluate: Callable[[Path, Path], object], before: list[dict] | None = None
) -> list[dict]:
    """Points ``{step, tokens, cpu_s, accuracy, reasoning_correct_rate}`` for every checkpoint of ``run_dir``
    and its final model (whose evaluation must be in ``run_dir/eval``).

    ``evaluate(model_dir, eval_dir)`` evaluates a checkpoint that has no ``eval/metrics.json`` yet (so an
    interrupted study resumes); checkpoints at the final step are the final model and are not evaluated
    again. ``before``: the curve of the stage this run continued from (a GRPO run's SFT stage), which this
    one extends.
    """
    before = before or []
    offset = before[-1] if before else {"tokens": 0, "cpu_s": 0.0}  # the earlier stage's last point
    run = json.loads((run_dir / "run.json").read_text())
    points = []
    for folder in checkpoints(run_dir):
        compute = json.loads((folder / COMPUTE_FILE).read_text())
        if compute["step"] >= run["global_step"]:
            continue
        if not (folder / "eval" / "metrics.json").is_file():
            evaluate(folder, folder / "eval")
        points.append(_point(compute["step"], compute, folder / "eval" / "metrics.json", offset))
    points.append(_point(run["global_step"], run["compute"], run_dir / "eval" / "metrics.json", offset))
    return [*before, *points]


def compute_to_reach(curve: list[dict], target: float, key: str = "tokens") -> float | None:
    """The compute (``key``: ``tokens`` or ``cpu_s``) of the first point whose accuracy reaches ``target``:
    an upper bound at checkpoint resolution; None when no point does."""
    return next((p[key] for p in curve if p["accuracy"] >= target), None)
