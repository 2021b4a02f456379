"""The goals of the issue "Performance: SCALe at the cost of vanilla SFT", each under a stable id, and their
judgement from a summarised results dict (``loss_op.summarise`` and ``training_step.summarise`` have run).

Time and throughput goals are judged on process CPU seconds per token of the least disturbed subprocess (see
``common.cpu_s_per_token_runs``): on a shared machine the wall-clock median of a few steps does not survive
another job (one variant's steps have taken from 5 s to 23 s within one run). The wall-clock ratio is kept beside
it (``wall_value``) as information.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Goal:
    id: str
    text: str  # display text; ``{model}`` is the training model's name
    op: str  # ">=" or "<="
    threshold: float


GOALS = {
    g.id: g
    for g in (
        Goal("loss_memory_vs_hf_default", "loss-op peak memory, (a) transformers default / ours", ">=", 3.0),
        Goal("loss_memory_vs_naive_weighted", "loss-op peak memory, (b) naive weighted / ours", ">=", 3.0),
        Goal(
            "loss_cpu_time_vs_trl_fused",
            "loss-op CPU time per token, ours / (c) TRL fused vanilla",
            "<=",
            1.1,
        ),
        Goal(
            "train_throughput_scale_vs_trl",
            "training throughput per CPU second ({model}), scale / TRL SFTTrainer",
            ">=",
            0.97,
        ),
        Goal(
            "train_memory_scale_vs_trl", "training peak memory ({model}), scale / TRL SFTTrainer", "<=", 1.03
        ),
        Goal(
            "gradient_max_abs_diff", "gradient max abs diff (fused SCALe vs full-logits autograd)", "<=", 1e-5
        ),
    )
}


def goal_id(goal: str, model: str | None = None) -> str:
    """The id of one judged goal: the goal's id, and for per-model goals ``/<model>``."""
    return goal if model is None else f"{goal}/{model}"


def _judged(goal: str, value: float, detail: str, model: str | None = None, wall_value: float | None = None):
    g = GOALS[goal]
    met = value >= g.threshold if g.op == ">=" else value <= g.threshold
    return {
        "id": goal_id(goal, model),
        "goal": goal,
        "model": model,
        "name": g.text.format(model=model),
        "value": value,
        "wall_value": wall_value,
        "threshold": g.threshold,
        "op": g.op,
        "met": bool(met),
        "detail": detail,
    }


def _loss_goals(loss_op: dict) -> list[dict]:
    variants, ratios = loss_op["variants"], loss_op["ratios"]
    ours, fused = variants["ours"], variants["trl_fused"]
    return [
        _judged(
            f"loss_memory_vs_{ref}",
            ratios[ref]["memory_reduction"],
            f"{variants[ref]['peak_mb']:.0f} MB vs {ours['peak_mb']:.0f} MB",
        )
        for ref in ("hf_default", "naive_weighted")
    ] + [
        _judged(
            "loss_cpu_time_vs_trl_fused",
            ratios["trl_fused"]["cpu_per_token"],
            f"{ours['cpu_s_per_token'] * 1e3:.2f} vs {fused['cpu_s_per_token'] * 1e3:.2f} CPU ms/token; wall "
            f"median {ours['time_s']:.2f} s vs {fused['time_s']:.2f} s",
            wall_value=ratios["trl_fused"]["time_ratio"],
        )
    ]


def _train_goals(name: str, res: dict) -> list[dict]:
    scale, trl_ = res["variants"]["scale"], res["variants"]["trl"]
    ratios = res["ratios"]["trl"]
    return [
        _judged(
            "train_throughput_scale_vs_trl",
            ratios["cpu_throughput_best"],
            f"{1 / scale['cpu_s_per_token']:.0f} vs {1 / trl_['cpu_s_per_token']:.0f} tokens per CPU second; wall "
            f"{scale['tokens_per_s']:.0f} vs {trl_['tokens_per_s']:.0f} tokens/s",
            model=name,
            wall_value=ratios["throughput"],
        ),
        _judged(
            "train_memory_scale_vs_trl",
            ratios["memory"],
            f"{scale['peak_mb']:.1f} MB vs {trl_['peak_mb']:.1f} MB",
            model=name,
        ),
    ]


def judge(results: dict) -> list[dict]:
    """Every goal, judged on the measurements in ``results``."""
    gradient = results["gradient"]
    judged = _loss_goals(results["loss_op"])
    for name, res in results["train"].items():
        judged += _train_goals(name, res)
    judged.append(
        _judged(
            "gradient_max_abs_diff",
            gradient["max_abs_diff"],
            f"d/d hidden {gradient['max_abs_diff_hidden']:.2e}, d/d W {gradient['max_abs_diff_weight']:.2e}",
        )
    )
    return judged
