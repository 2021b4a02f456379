"""``scale-sft demo`` (what ``make demo`` runs): the paper's comparison end to end, offline, on CPU.

One tiny Qwen2.5-VL, one synthetic chain-of-thought dataset, one seed, equal budgets:

    (a) vanilla SFT          (b) SCALe-SFT
    (c) vanilla SFT + GRPO   (d) SCALe-SFT + GRPO

all four evaluated on the same held-out set. Cost is compared in units machine load cannot bend (each run's
``run.json`` ``compute``: tokens through forward/backward plus GRPO's generated tokens, and process CPU
seconds), with wall-clock beside them as information. Writes ``report.md``, ``results.json`` and PNG plots
(accuracy against compute among them) to ``--output_dir`` and prints the table.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from trl import ModelConfig

from scale_sft.data.synthetic import corpus_texts, make_records, save_dataset
from scale_sft.evaluation.compare import plot_runs
from scale_sft.evaluation.curves import accuracy_curve, compute_to_reach, compute_tokens
from scale_sft.evaluation.runner import evaluate, format_table
from scale_sft.grpo.grpo_config import ScaleGRPOConfig
from scale_sft.grpo.recipe import GRPOArguments, grpo
from scale_sft.models.tiny import make_tiny_model
from scale_sft.run_record import library_versions, versions_line
from scale_sft.sft.recipe import TrainArguments, train
from scale_sft.sft.sft_config import ScaleSFTConfig

PIPELINES = {
    "vanilla_sft": ("vanilla", False),
    "scale_sft": ("scale", False),
    "vanilla_sft_grpo": ("vanilla", True),
    "scale_sft_grpo": ("scale", True),
}
REPORT_METRICS = (
    "accuracy",
    "malformed_rate",
    "think_tokens_mean",
    "unfinished_rate",
    "loop_rate",
    "consistency_rate",
    "reasoning_correct_rate",
    "train_tokens_M",
    "train_cpu_s",
    "tokens_vs_vanilla_sft_grpo",
    "cpu_s_vs_vanilla_sft_grpo",
    "train_wall_clock_s",
    "wall_clock_vs_vanilla_sft_grpo",
)
REFERENCE = "vanilla_sft_grpo"  # the paper's cost comparison: each pipeline against SFT + GRPO


@dataclass(frozen=True)
class Budget:
    """How much data, training and evaluation a demo run gets."""

    n_train: int = 3000
    n_test: int = 100
    sft_steps: int = 1500
    learning_rate: float = 1e-3  # at 3e-3 the tiny model stalled on an image-blind solution in trials
    grpo_steps: int = 12
    grpo_learning_rate: float = 5e-5
    grpo_temperature: float = 1.0
    grpo_prompts_per_step: int = 1  # each with num_generations completions
    num_generations: int = 4
    max_new_tokens: int = 192  # gold traces are about 100 tokens: room for a loop to show
    checkpoints: int = 0  # intermediate checkpoints per stage, evaluated for accuracy against compute

    def save_options(self, steps: int) -> dict:
        """Trainer settings that save ``checkpoints`` evenly spaced model-only checkpoints in ``steps``."""
        if not self.checkpoints:
            return {"save_strategy": "no"}
        every = max(steps // (self.checkpoints + 1), 1)
        return {"save_strategy": "steps", "save_steps": every, "save_only_model": True}


BUDGETS = {
    "full": Budget(checkpoints=3),
    "quick": Budget(n_train=600, n_test=24, sft_steps=300, grpo_steps=2, num_generations=2, checkpoints=1),
}


def train_sft(
    model: Path, data: Path, out: Path, method: str, budget: Budget, seed: int, **overrides
) -> None:
    """Train one SFT pipeline (``overrides``: more ``ScaleSFTConfig`` fields, e.g. a schedule)."""
    config = ScaleSFTConfig(
        output_dir=str(out), loss_method=method, max_steps=budget.sft_steps, per_device_train_batch_size=8,
        learning_rate=budget.learning_rate, lr_scheduler_type="cosine", warmup_steps=10,
        logging_steps=max(budget.sft_steps // 20, 1), report_to="none", seed=seed, gradient_checkpointing=False,
        overwrite_output_dir=True, **budget.save_options(budget.sft_steps), **overrides,
    )  # fmt: skip
    train(TrainArguments(model=str(model), dataset=str(data)), config, ModelConfig())


def train_grpo(model: Path, data: Path, out: Path, budget: Budget, seed: int) -> None:
    config = ScaleGRPOConfig(
        output_dir=str(out), max_steps=budget.grpo_steps, num_generations=budget.num_generations,
        per_device_train_batch_size=budget.num_generations * budget.grpo_prompts_per_step,
        max_completion_length=budget.max_new_tokens, learning_rate=budget.grpo_learning_rate,
        temperature=budget.grpo_temperature, logging_steps=1, report_to="none", seed=seed,
        gradient_checkpointing=False, rewards=["format", "accuracy"], overwrite_output_dir=True,
        **budget.save_options(budget.grpo_steps),
    )  # fmt: skip
    grpo(GRPOArguments(model=str(model), dataset=str(data)), config, ModelConfig())


def evaluate_run(model: Path, data: Path, out: Path, budget: Budget) -> dict:
    return evaluate(
        str(model), data=str(data), limit=budget.n_test, batch_size=25, max_new_tokens=budget.max_new_tokens,
        output_dir=str(out),
    )  # fmt: skip


def plot_losses(output_dir: Path, path: Path) -> None:
    """``loss_think`` and ``loss_answer`` of (a) and (b) against steps, with each one's ``answer_share`` (the
    share of the loss weight on ANSWER tokens: (b)'s scheduled ``w``, (a)'s ANSWER token share)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    twin = ax.twinx()
    for name, style in (("vanilla_sft", "--"), ("scale_sft", "-")):
        logs = json.loads((output_dir / name / "trainer_state.json").read_text())["log_history"]
        logs = [h for h in logs if "loss_think" in h]
        steps = [h["step"] for h in logs]
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


def plot_think_lengths(output_dir: Path, path: Path) -> None:
    """The distribution of generated THINK lengths per pipeline."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for i, name in enumerate(PIPELINES):
        rows = (output_dir / name / "eval" / "predictions.jsonl").read_text().splitlines()
        ax.hist([json.loads(r)["think_tokens"] for r in rows], bins=20, alpha=0.5, color=f"C{i}", label=name)
    ax.set_xlabel("THINK tokens per generation")
    ax.set_ylabel("generations")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def run_record(output_dir: Path, name: str, sft_stage: str | None = None) -> dict:
    """One pipeline's row, read from its files: the evaluation's overall metrics and the cost of its SFT stage
    (``sft_stage``'s directory for a GRPO pipeline, else its own) plus its GRPO stage."""
    stages = [output_dir / name] if sft_stage is None else [output_dir / sft_stage, output_dir / name]
    runs = [json.loads((stage / "run.json").read_text()) for stage in stages]
    tokens = [compute_tokens(r["compute"]) for r in runs]
    cpu = [r["compute"]["cpu_s"] for r in runs]
    metrics = json.loads((output_dir / name / "eval" / "metrics.json").read_text())["overall"]
    return {
        "name": name,
        "loss_method": runs[0]["loss_method"],
        "grpo": sft_stage is not None,
        "sft_stage": sft_stage,
        "sft_tokens": tokens[0],
        "sft_cpu_s": cpu[0],
        "train_tokens": sum(tokens),
        "train_tokens_M": sum(tokens) / 1e6,
        "train_cpu_s": sum(cpu),
        "train_wall_clock_s": sum(r["wall_clock_s"] for r in runs),
        **metrics,
    }


def add_ratios(runs: list[dict]) -> None:
    """Each run's tokens, CPU seconds and wall-clock as a share of ``REFERENCE``'s (SFT + GRPO)."""
    reference = next(r for r in runs if r["name"] == REFERENCE)
    for run in runs:
        for key, total in (
            ("tokens", "train_tokens"),
            ("cpu_s", "train_cpu_s"),
            ("wall_clock", "train_wall_clock_s"),
        ):
            run[f"{key}_vs_{REFERENCE}"] = run[total] / reference[total]


def add_reach(runs: list[dict]) -> None:
    """The paper's claim as a measurement: the compute at which each run's curve first reaches
    ``REFERENCE``'s (SFT + GRPO's) final accuracy (``tokens_to_target``, ``cpu_s_to_target``; None if never),
    and its share of what ``REFERENCE`` needed to reach it (``*_to_target_vs_vanilla_sft_grpo``)."""
    reference = next(r for r in runs if r["name"] == REFERENCE)
    target = reference["accuracy"]
    for run in runs:
        run["target_accuracy"] = target
        for key in ("tokens", "cpu_s"):
            reach = compute_to_reach(run["curve"], target, key)
            run[f"{key}_to_target"] = reach
            needed = compute_to_reach(reference["curve"], target, key)
            run[f"{key}_to_target_vs_{REFERENCE}"] = None if reach is None else reach / needed


def reach_sentence(run: dict) -> str:
    """What ``add_reach`` measured for ``run``, as a sentence of the report."""
    target = f"SFT + GRPO's final accuracy ({run['target_accuracy']:.3f})"
    if run["tokens_to_target"] is None:
        return f"{run['name']} did not reach {target} at any evaluated checkpoint."
    return (
        f"{run['name']} first reached {target} after {run['tokens_to_target']:,} tokens: "
        f"{run[f'tokens_to_target_vs_{REFERENCE}']:.3f} of the tokens and "
        f"{run[f'cpu_s_to_target_vs_{REFERENCE}']:.3f} of the CPU seconds SFT + GRPO needed to reach it "
        "(first evaluated checkpoint at or above it)."
    )


def plot_accuracy_compute(runs: list[dict], path: Path) -> None:
    """Accuracy against cumulative training compute (tokens, CPU seconds), one curve per pipeline through its
    evaluated checkpoints; a GRPO pipeline's curve (dashed) continues its SFT stage's."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

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


def pipeline_curve(
    output_dir: Path, name: str, data: Path, budget: Budget, sft_stage: str | None = None
) -> list[dict]:
    """``name``'s accuracy-against-compute curve, evaluating its checkpoints as ``evaluate_run`` does; a GRPO
    pipeline's includes its SFT stage's (evaluated once, the evaluations are kept)."""

    def evaluate_checkpoint(model: Path, out: Path) -> None:
        evaluate_run(model, data, out, budget)

    before = accuracy_curve(output_dir / sft_stage, evaluate_checkpoint) if sft_stage else None
    return accuracy_curve(output_dir / name, evaluate_checkpoint, before)


def build_inputs(output_dir: Path, budget: Budget, seed: int, task: str = "default") -> tuple[Path, Path]:
    """The seed's tiny model and dataset under ``output_dir``; for another task than the default, the
    tokenizer is trained on that task's corpus."""
    output_dir.mkdir(parents=True, exist_ok=True)
    model, data = output_dir / "tiny-qwen2_5_vl", output_dir / "data"
    texts = None  # make_tiny_model's default: the default task's corpus
    if task != "default":
        texts = corpus_texts(make_records(500, seed=seed, split="tokenizer", task=task))
    make_tiny_model(model, texts=texts, seed=seed)
    save_dataset(data, n_train=budget.n_train, n_test=budget.n_test, seed=seed, task=task)
    return model, data


def run_demo(output_dir: Path, budget: Budget, seed: int = 0, task: str = "default") -> dict:
    """Build, train the four pipelines, evaluate, and write the report; returns ``results.json``'s content.
    ``task``: the synthetic task (``save_dataset``)."""
    started = time.perf_counter()
    model, data = build_inputs(output_dir, budget, seed, task)

    runs = []
    for name, (method, with_grpo) in PIPELINES.items():
        out = output_dir / name
        print(f"\n=== {name} ===", flush=True)
        sft_stage = f"{method}_sft" if with_grpo else None
        if with_grpo:
            train_grpo(output_dir / sft_stage, data, out, budget, seed)
        else:
            train_sft(model, data, out, method, budget, seed)
        evaluate_run(out, data, out / "eval", budget)
        runs.append(
            {
                **run_record(output_dir, name, sft_stage),
                "curve": pipeline_curve(output_dir, name, data, budget, sft_stage),
            }
        )
    add_ratios(runs)
    add_reach(runs)

    plot_losses(output_dir, output_dir / "losses.png")
    plot_runs({r["name"]: r for r in runs}, output_dir / "metrics.png")
    plot_think_lengths(output_dir, output_dir / "think_lengths.png")
    plot_accuracy_compute(runs, output_dir / "accuracy_compute.png")
    total = time.perf_counter() - started
    results = {
        "seed": seed, "task": task, "budget": asdict(budget), "wall_clock_s": total,
        "versions": library_versions(), "runs": runs,
    }  # fmt: skip
    (output_dir / "results.json").write_text(json.dumps(results, indent=2))
    table = format_table({r["name"]: r for r in runs}, REPORT_METRICS)
    scale = next(r for r in runs if r["name"] == "scale_sft")
    (output_dir / "report.md").write_text(
        "# scale-sft demo\n\n"
        f"Tiny Qwen2.5-VL trained from scratch on the synthetic task ({task}), seed {seed}, budget {asdict(budget)}.\n"
        "Cost of (c) and (d) includes their SFT stage; tokens are those through forward/backward passes plus "
        "GRPO's generated ones, CPU seconds the training processes' (wall-clock is information only). One "
        f"seed: see docs/RESULTS.md for the seeded study. {versions_line()}\n\n"
        f"SCALe-SFT / (SFT + GRPO) compute: {scale[f'tokens_vs_{REFERENCE}']:.3f} in tokens, "
        f"{scale[f'cpu_s_vs_{REFERENCE}']:.3f} in CPU seconds (the paper reports about 1/7 of the training "
        "time).\n\n"
        f"{reach_sentence(scale)}\n\n"
        f"```\n{table}\n```\n\n![accuracy against compute](accuracy_compute.png)\n![metrics](metrics.png)\n"
        "![losses](losses.png)\n![THINK lengths](think_lengths.png)\n"
    )
    print(f"\n{table}\n\nDemo done in {total / 60:.1f} min; report: {output_dir / 'report.md'}", flush=True)
    return results


@dataclass
class DemoArguments:
    """``scale-sft demo``: where to write, which budget, which seed."""

    output_dir: str = field(
        default="runs/demo", metadata={"help": "Directory for the runs, report and plots."}
    )
    quick: bool = field(default=False, metadata={"help": "A few-minute run instead of the full demo."})
    seed: int = field(default=0, metadata={"help": "Seed of the model, the data and the training runs."})


def demo_command(args: DemoArguments) -> dict:
    """``scale-sft demo``: ``run_demo`` with the quick or the full budget."""
    return run_demo(Path(args.output_dir), BUDGETS["quick" if args.quick else "full"], args.seed)
