"""``scale-sft demo`` (what ``make demo`` runs): the paper's comparison end to end, offline, on CPU.

One tiny Qwen2.5-VL, first pretrained to see and answer directly (the base stage, as the paper fine-tunes
instruct models), one synthetic chain-of-thought dataset, one seed, equal budgets:

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

from scale_sft.evaluation.compare import plot_runs
from scale_sft.evaluation.runner import format_table
from scale_sft.experiments.cost import add_ratios, add_reach, reach_sentence, versus
from scale_sft.experiments.pipeline import BaseStage, Budget, in_training_order, paper_pipelines
from scale_sft.experiments.plots import plot_accuracy_compute, plot_losses, plot_think_lengths
from scale_sft.experiments.stages import base_metrics, build_inputs, pipeline_row
from scale_sft.run_record import library_versions, versions_line

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
    versus("tokens"),
    versus("cpu_s"),
    "train_wall_clock_s",
    versus("wall_clock"),
)
# Sized in training tokens against the from-scratch demo (2 x 1500 SFT steps, 12.1 min on 2 idle cores): a base
# record carries 0.63x the tokens of a chain-of-thought record (112 vs 180, experiments/record_tokens.py), so the
# base's 1000 steps weigh about 630 SFT steps, and 2 x 1200 SFT steps + the base about 3030 against 3000.
BUDGETS = {
    "full": Budget(sft_steps=1200, checkpoints=3, base=BaseStage(steps=1000, n_scenes=2000, n_test=100)),
    "quick": Budget(
        n_train=600,
        n_test=24,
        sft_steps=300,
        grpo_steps=2,
        num_generations=2,
        checkpoints=1,
        base=BaseStage(steps=200, n_scenes=400, n_test=24),
    ),
}


def regime_sentence(budget: Budget, base: dict | None) -> str:
    """What regime the run shows, in one sentence, pointing to the seeded study."""
    if budget.base is None:
        return (
            "Regime: the tiny model is trained from scratch on chain-of-thought data, which the paper does not "
            "study (it fine-tunes instruct models); see docs/RESULTS.md for the seeded study."
        )
    return (
        f"Regime: the paper's, fine-tuning a pretrained base (the tiny model first trained {budget.base.steps} "
        f"steps to describe scenes and answer directly, no traces: {base['accuracy']:.3f} accuracy answering "
        f"directly on {base['n']} held-out questions); one seed, see docs/RESULTS.md for the seeded study."
    )


def run_demo(output_dir: Path, budget: Budget, seed: int = 0, task: str = "default") -> dict:
    """Build, train the four pipelines, evaluate, and write the report; returns ``results.json``'s content.
    ``task``: the synthetic task (``save_dataset``)."""
    started = time.perf_counter()
    model, data = build_inputs(output_dir, budget, seed, task)
    pipelines = in_training_order(paper_pipelines(budget.base))
    runs = [pipeline_row(output_dir, stage, model, data, budget, seed) for stage in pipelines]
    base = base_metrics(budget.base, model, seed)
    add_ratios(runs)
    add_reach(runs)

    plot_losses(output_dir, pipelines[:2], output_dir / "losses.png")
    plot_runs({r["name"]: r for r in runs}, output_dir / "metrics.png")
    plot_think_lengths(output_dir, pipelines, output_dir / "think_lengths.png")
    plot_accuracy_compute(runs, output_dir / "accuracy_compute.png")
    total = time.perf_counter() - started
    results = {
        "seed": seed, "task": task, "budget": asdict(budget), "wall_clock_s": total, "base": base,
        "versions": library_versions(), "runs": runs,
    }  # fmt: skip
    (output_dir / "results.json").write_text(json.dumps(results, indent=2))
    table = format_table({r["name"]: r for r in runs}, REPORT_METRICS)
    scale = next(r for r in runs if r["name"] == pipelines[1].name)
    (output_dir / "report.md").write_text(
        "# scale-sft demo\n\n"
        f"{regime_sentence(budget, base)}\n\n"
        f"Tiny Qwen2.5-VL on the synthetic task ({task}), seed {seed}, budget {asdict(budget)}.\n"
        "Cost of (c) and (d) includes their SFT stage; tokens are those through forward/backward passes plus "
        "GRPO's generated ones, CPU seconds the training processes' (wall-clock is information only). One "
        f"seed: see docs/RESULTS.md for the seeded study. {versions_line()}\n\n"
        f"SCALe-SFT / (SFT + GRPO) compute: {scale[versus('tokens')]:.3f} in tokens, "
        f"{scale[versus('cpu_s')]:.3f} in CPU seconds (the paper reports about 1/7 of the training "
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
