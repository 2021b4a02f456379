"""The demo's and the study's figures: segment losses, THINK lengths, accuracy against compute."""

from __future__ import annotations

import json
from pathlib import Path

from scale_sft.experiments.pipeline import Stage


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_losses(output_dir: Path, stages: tuple[Stage, ...], path: Path) -> None:
    """``loss_think`` and ``loss_answer`` of the SFT ``stages`` against steps (dashed, then solid), with each
    one's ``answer_share`` (the share of the loss weight on ANSWER tokens: SCALe's scheduled ``w``, vanilla's
    ANSWER token share)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    twin = ax.twinx()
    for stage, style in zip(stages, ("--", "-", ":", "-."), strict=False):
        logs = json.loads((output_dir / stage.name / "trainer_state.json").read_text())["log_history"]
        logs = [h for h in logs if "loss_think" in h]
        steps, name = [h["step"] for h in logs], stage.name
        ax.plot(steps, [h["loss_think"] for h in logs], style, color="C0", label=f"{name} loss_think")
        ax.plot(steps, [h["loss_answer"] for h in logs], style, color="C1", label=f"{name} loss_answer")
        twin.plot(steps, [h["answer_share"] for h in logs], style, color="C2", label=f"{name} answer_share")
    twin.set_ylabel("answer share of the loss weight")
    twin.set_ylim(0, 1)
    twin.legend(loc="upper center", fontsize=8)
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("mean cross-entropy")
    ax.set_yscale("log")
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_think_lengths(output_dir: Path, stages: tuple[Stage, ...], path: Path) -> None:
    """The distribution of generated THINK lengths of each stage's final evaluation."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    for i, stage in enumerate(stages):
        rows = (output_dir / stage.name / "eval" / "predictions.jsonl").read_text().splitlines()
        ax.hist(
            [json.loads(r)["think_tokens"] for r in rows], bins=20, alpha=0.5, color=f"C{i}", label=stage.name
        )
    ax.set_xlabel("THINK tokens per generation")
    ax.set_ylabel("generations")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_accuracy_compute(runs: list[dict], path: Path) -> None:
    """Accuracy against cumulative training compute (tokens, CPU seconds), one curve per pipeline through its
    evaluated checkpoints; a GRPO pipeline's curve (dashed) continues its SFT stage's."""
    plt = _pyplot()
    axes_keys = (
        ("tokens", "training tokens (forward/backward + generated)"),
        ("cpu_s", "training CPU seconds"),
    )
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, (key, label) in zip(axes, axes_keys, strict=True):
        for i, run in enumerate(runs):
            xs, ys = [p[key] for p in run["curve"]], [p["accuracy"] for p in run["curve"]]
            style = "o--" if run["grpo"] else "s-"
            ax.plot(xs, ys, style, color=f"C{i}", label=run["name"], alpha=0.8, clip_on=False, markersize=4)
            ax.annotate(
                f"{ys[-1]:.2f}", (xs[-1], ys[-1]), textcoords="offset points", xytext=(4, 4), fontsize=8
            )
        ax.set_xlabel(label)
        ax.set_ylabel("accuracy")
        ax.set_xlim(left=0)
        ax.set_ylim(0, 1.05)
    axes[0].legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
