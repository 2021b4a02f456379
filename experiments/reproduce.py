"""The seeded study: vanilla SFT, SCALe-SFT and the adaptive answer weight over at least 5 seeds, both + GRPO
over at least 3, on the synthetic task with the paper's imbalance; paired differences with bootstrap CIs.

    .venv/bin/python experiments/reproduce.py [--seeds 0 1 2 3 4] [--grpo_seeds 0 1 2] [--task imbalanced]
        [--budget study|smoke] [--output_dir runs/reproduce] [--results docs/RESULTS.md] [--resume] [--jobs N]

For every seed: a fresh tiny model (tokenizer trained on the task's corpus) and dataset, then vanilla SFT,
SCALe-SFT (cosine 0.2 -> 0.8) and SCALe with the adaptive weight (``answer_weight_schedule="adaptive"``);
for every GRPO seed, GRPO after vanilla SFT and after SCALe-SFT. Every run is evaluated on the seed's test
split, and so are its evenly spaced checkpoints (``Budget.checkpoints``), which places every pipeline on an
accuracy-against-compute curve. Writes ``results.json`` (every run, with its curve) under ``--output_dir``
and ``--results`` (default ``docs/RESULTS.md``): mean ± standard deviation per pipeline, per-seed paired
differences with a percentile bootstrap 95% confidence interval of their mean (a difference is
distinguishable from zero when its interval excludes zero), the compute ratio SCALe-SFT / (SFT + GRPO) in
tokens and CPU seconds (cost that machine load cannot bend; wall-clock beside it), the compute at which each
pipeline first reaches SFT + GRPO's final accuracy, and the accuracy-against-compute and metric plots.
``--resume`` reuses every run (and checkpoint) that already has its evaluation, so an interrupted study
continues where it stopped; ``--jobs 2`` runs two seeds at once, one CPU thread each (on 2 cores this
trains more steps per second than one seed on two threads; tokens do not depend on it, CPU seconds little).
The study budget takes about 90 minutes on 2 cores with ``--jobs 2``; ``--budget smoke`` checks the whole path
in a minute.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import sys
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict
from pathlib import Path

from scale_sft.evaluation.compare import plot_runs
from scale_sft.experiments.cost import add_ratios, add_reach, versus
from scale_sft.experiments.pipeline import (
    REFERENCE,
    SCALE_SFT,
    SCALE_SFT_GRPO,
    VANILLA_SFT,
    VANILLA_SFT_GRPO,
    Budget,
    Stage,
    in_training_order,
)
from scale_sft.experiments.plots import plot_accuracy_compute
from scale_sft.experiments.stages import build_inputs, pipeline_row
from scale_sft.run_record import versions_line
from scale_sft.stats import bootstrap_ci, paired_differences

ROOT = Path(__file__).resolve().parent.parent
BUDGETS = {
    # Sized to run on 2 cores in about 90 minutes (--jobs 2). Room for the longest traces (about 470 tokens).
    # GRPO: 4 prompts x 8 completions a step at temperature 0.7 and lr 1e-4, picked in short trials from a
    # SCALe-SFT start, where the demo's GRPO settings (1 prompt x 4 at temperature 1.0, lr 5e-5) lowered
    # accuracy and lr 5e-4 collapsed it; the study's GRPO rows show what this budget does.
    "study": Budget(
        n_train=3000,
        n_test=100,
        sft_steps=500,
        grpo_steps=40,
        num_generations=8,
        grpo_prompts_per_step=4,
        grpo_learning_rate=1e-4,
        grpo_temperature=0.7,
        max_new_tokens=512,
        checkpoints=4,
    ),  # fmt: skip
    "smoke": Budget(
        n_train=40, n_test=4, sft_steps=4, grpo_steps=2, num_generations=2, max_new_tokens=16, checkpoints=1
    ),
}
ADAPTIVE_SFT = Stage(
    "adaptive_sft", "sft", loss_method="scale", config=(("answer_weight_schedule", "adaptive"),)
)
PIPELINES = in_training_order((VANILLA_SFT, SCALE_SFT, ADAPTIVE_SFT, VANILLA_SFT_GRPO, SCALE_SFT_GRPO))
METRICS = (
    "accuracy",
    "reasoning_correct_rate",
    "malformed_rate",
    "unfinished_rate",
    "loop_rate",
    "think_tokens_mean",
    "final_loss_think",
    "final_loss_answer",
    "train_tokens_M",
    "train_cpu_s",
    "train_wall_clock_s",
)
COMPARISONS = tuple(  # (pipeline, baseline): what the study asks
    (a.name, b.name)
    for a, b in (
        (SCALE_SFT, VANILLA_SFT),
        (ADAPTIVE_SFT, VANILLA_SFT),
        (ADAPTIVE_SFT, SCALE_SFT),
        (SCALE_SFT, VANILLA_SFT_GRPO),
        (VANILLA_SFT_GRPO, VANILLA_SFT),
        (SCALE_SFT_GRPO, SCALE_SFT),
    )
)
COMPARED = ("accuracy", "reasoning_correct_rate", "malformed_rate")


def final_losses(run_dir: Path) -> dict:
    """The SFT run's last logged mean THINK and ANSWER cross-entropy (what each segment learned)."""
    logs = json.loads((run_dir / "trainer_state.json").read_text())["log_history"]
    last = [h for h in logs if "loss_think" in h][-1]
    return {"final_loss_think": last["loss_think"], "final_loss_answer": last["loss_answer"]}


def run_seed(out: Path, budget: Budget, seed: int, task: str, with_grpo: bool, resume: bool) -> list[dict]:
    """Every pipeline of one seed (reusing the finished ones with ``resume``); returns their rows."""
    model, data = out / "tiny-qwen2_5_vl", out / "data"
    if not (resume and model.is_dir() and data.is_dir()):
        model, data = build_inputs(out, budget, seed, task)
    rows = []
    for stage in (s for s in PIPELINES if with_grpo or s.trainer == "sft"):
        row = pipeline_row(out, stage, model, data, budget, seed, resume, label=f"seed {seed}: ")
        rows.append({**row, **(final_losses(out / stage.name) if stage.trainer == "sft" else {})})
    if with_grpo:
        add_ratios(rows)
        add_reach(rows)
    return [{"seed": seed, **row} for row in rows]


def mean_std(values: list[float]) -> str:
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.3f} ± {std:.3f}"


def mean_rows(runs: list[dict], seeds: list[int]) -> list[dict]:
    """Per pipeline, the mean of every numeric field over ``seeds`` (for the plots)."""
    rows = []
    for name in dict.fromkeys(r["name"] for r in runs):
        group = [r for r in runs if r["name"] == name and r["seed"] in seeds]
        if not group:
            continue
        numeric = [k for k, v in group[0].items() if isinstance(v, int | float) and not isinstance(v, bool)]
        rows.append(
            {
                **group[0],
                **{k: statistics.fmean(r[k] for r in group if r.get(k) is not None) for k in numeric},
                "curve": mean_curve([r["curve"] for r in group]),
            }
        )
    return rows


def mean_curve(curves: list[list[dict]]) -> list[dict]:
    """The pointwise mean of curves evaluated at the same steps (every seed has the same checkpoints)."""
    return [
        {k: statistics.fmean(p[k] for p in points) for k in points[0]} for points in zip(*curves, strict=True)
    ]


def reach_lines(runs: list[dict]) -> list[str]:
    """Per GRPO seed: the target (SFT + GRPO's final accuracy) and the compute each pipeline needed to first
    reach it, with SCALe-SFT's share of SFT + GRPO's."""
    names = list(dict.fromkeys(r["name"] for r in runs))
    lines = [
        "| seed | target accuracy | " + " | ".join(f"{n} tokens (M)" for n in names)
        + f" | {SCALE_SFT.name} / {REFERENCE.name}: tokens | CPU seconds |",
        "| --- | --- |" + " --- |" * (len(names) + 2),
    ]  # fmt: skip
    shares = []
    for seed in sorted({r["seed"] for r in runs if "target_accuracy" in r}):
        by_name = {r["name"]: r for r in runs if r["seed"] == seed}
        cells = [
            "not reached"
            if by_name[n]["tokens_to_target"] is None
            else f"{by_name[n]['tokens_to_target'] / 1e6:.2f}"
            for n in names
        ]
        scale = by_name[SCALE_SFT.name]
        share = [scale[versus(f"{k}_to_target")] for k in ("tokens", "cpu_s")]
        shares.append(share)
        share_cells = ["not reached" if v is None else f"{v:.3f}" for v in share]
        lines.append(
            f"| {seed} | {by_name[REFERENCE.name]['target_accuracy']:.3f} | "
            + " | ".join(cells + share_cells)
            + " |"
        )
    reached = [s for s in shares if s[0] is not None]
    lines.append(
        f"\nSCALe-SFT reached SFT + GRPO's final accuracy on {len(reached)} of {len(shares)} seeds"
        + (
            f"; where it did, with {statistics.fmean(s[0] for s in reached):.3f} of the tokens and "
            f"{statistics.fmean(s[1] for s in reached):.3f} of the CPU seconds SFT + GRPO needed (mean)."
            if reached
            else "."
        )
    )
    return lines


def report(runs: list[dict], args, budget: Budget, command: str, figures: Path) -> str:
    """The markdown of ``docs/RESULTS.md``: pipelines, paired differences with CIs, compute ratio, plots."""
    names = list(dict.fromkeys(r["name"] for r in runs))
    lines = [
        "| pipeline | seeds | " + " | ".join(METRICS) + " |",
        "| --- | --- |" + " --- |" * len(METRICS),
    ]
    for name in names:
        rows = [r for r in runs if r["name"] == name]
        cells = " | ".join(mean_std([r.get(m) for r in rows]) for m in METRICS)
        lines.append(f"| {name} | {len(rows)} | {cells} |")
    diffs = [
        "| pipeline − baseline | metric | per-seed differences | mean | bootstrap 95% CI | distinguishable from 0 |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for pipeline, baseline in COMPARISONS:
        for metric in COMPARED:
            paired = paired_differences(runs, pipeline, baseline, metric)
            if not paired:
                continue
            low, high = bootstrap_ci(list(paired.values()))
            per_seed = ", ".join(f"{s}: {d:+.3f}" for s, d in paired.items())
            verdict = "yes" if low > 0 or high < 0 else "no"
            diffs.append(
                f"| {pipeline} − {baseline} | {metric} | {per_seed} | {statistics.fmean(paired.values()):+.3f} "
                f"| [{low:+.3f}, {high:+.3f}] | {verdict} |"
            )
    ratios = [r for r in runs if r["name"] == SCALE_SFT.name and versus("tokens") in r]
    ratio_lines = [
        f"- seed {r['seed']}: {r[versus('tokens')]:.3f} in tokens, {r[versus('cpu_s')]:.3f} in CPU "
        f"seconds ({r[versus('wall_clock')]:.3f} in wall-clock, information only)"
        for r in ratios
    ]
    if ratios:
        mean_tokens = statistics.fmean(r[versus("tokens")] for r in ratios)
        mean_cpu = statistics.fmean(r[versus("cpu_s")] for r in ratios)
        ratio_lines.append(f"- mean: {mean_tokens:.3f} in tokens, {mean_cpu:.3f} in CPU seconds")
    relative = figures.relative_to(Path(args.results).resolve().parent)
    return (
        "# Seeded study\n\n"
        "From scratch: the tiny model learns to see, to write and to reason at once, a regime the paper does not "
        "study (it fine-tunes instruct models). `experiments/base_study.py` runs the paper's regime, fine-tuning "
        "a pretrained base (docs/DEMO.md).\n\n"
        f"Command: `{command}`\n\n{versions_line()}\n\n"
        f"Task `{args.task}`, budget {asdict(budget)}; seeds {args.seeds} (GRPO pipelines: {args.grpo_seeds}); "
        "method in the docstring of `experiments/reproduce.py`. Tokens are those through forward/backward "
        "passes plus GRPO's generated ones; CPU seconds are the training processes' (both summed over the "
        "pipeline's stages).\n\n## Pipelines (mean ± standard deviation over seeds)\n\n"
        + "\n".join(lines)
        + "\n\n## Paired differences (same seed: same model initialisation and data)\n\n"
        + "\n".join(diffs)
        + "\n\n## Compute: SCALe-SFT / (SFT + GRPO)\n\n"
        + ("\n".join(ratio_lines) if ratio_lines else "No GRPO seed ran.")
        + "\n\n## Compute to reach SFT + GRPO's accuracy\n\n"
        "Every pipeline's checkpoints are evaluated along training (a GRPO pipeline's curve continues its SFT "
        "stage's); the compute to reach a target is that of the first evaluated point at or above it, an upper "
        "bound at checkpoint resolution.\n\n"
        + (
            "\n".join(reach_lines([r for r in runs if "target_accuracy" in r]))
            if ratio_lines
            else "No GRPO seed ran."
        )
        + f"\n\n## Plots\n\n![accuracy against compute]({relative}/accuracy_compute.png)\n"
        f"![metrics]({relative}/metrics.png)\n"
    )


def _seed_job(
    out: Path, budget: Budget, seed: int, task: str, with_grpo: bool, resume: bool, threads: int
) -> list[dict]:
    """``run_seed`` in a worker process: its own CPU threads, its output in ``out/log.txt``."""
    import torch

    torch.set_num_threads(threads)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "log.txt", "a") as log:
        sys.stdout = sys.stderr = log
        return run_seed(out, budget, seed, task, with_grpo, resume)


def run_seeds(args, budget: Budget) -> list[dict]:
    """Every seed's rows, in seed order; with ``--jobs`` > 1, seeds run in that many processes at once (the
    GRPO seeds first, being the longest), each with an equal share of the CPU threads. ``results.json`` is
    rewritten as each seed finishes."""
    output_dir = Path(args.output_dir)
    by_seed: dict[int, list[dict]] = {}

    def in_seed_order() -> list[dict]:
        return [row for s in sorted(by_seed) for row in by_seed[s]]

    def finished(seed: int, rows: list[dict]) -> None:
        by_seed[seed] = rows
        (output_dir / "results.json").write_text(json.dumps(in_seed_order(), indent=2))

    if args.jobs == 1:
        for seed in args.seeds:
            rows = run_seed(
                output_dir / f"seed{seed}", budget, seed, args.task, seed in args.grpo_seeds, args.resume
            )
            finished(seed, rows)
    else:
        threads = max((os.cpu_count() or 1) // args.jobs, 1)
        order = sorted(args.seeds, key=lambda s: s not in args.grpo_seeds)
        with ProcessPoolExecutor(args.jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = {
                pool.submit(
                    _seed_job,
                    output_dir / f"seed{s}",
                    budget,
                    s,
                    args.task,
                    s in args.grpo_seeds,
                    args.resume,
                    threads,
                ): s
                for s in order
            }
            for future in as_completed(futures):
                seed = futures[future]
                finished(seed, future.result())
                print(f"seed {seed} done (log: {output_dir / f'seed{seed}' / 'log.txt'})", flush=True)
    return in_seed_order()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--grpo_seeds", type=int, nargs="*", default=[0, 1, 2])
    parser.add_argument("--task", choices=("default", "imbalanced"), default="imbalanced")
    parser.add_argument("--budget", choices=sorted(BUDGETS), default="study")
    parser.add_argument("--output_dir", default="runs/reproduce")
    parser.add_argument("--results", default=str(ROOT / "docs" / "RESULTS.md"))
    parser.add_argument(
        "--resume", action="store_true", help="Reuse the runs already evaluated under --output_dir."
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="Seeds run at once, each in its own process with an equal share of the CPU threads.",
    )
    args = parser.parse_args()
    if args.jobs < 1:
        parser.error("--jobs must be at least 1.")
    if not set(args.grpo_seeds) <= set(args.seeds):
        parser.error("--grpo_seeds must be among --seeds.")
    budget = BUDGETS[args.budget]
    command = (
        f".venv/bin/python experiments/reproduce.py --seeds {' '.join(map(str, args.seeds))} "
        f"--grpo_seeds {' '.join(map(str, args.grpo_seeds))} --task {args.task} --budget {args.budget}"
        + (f" --jobs {args.jobs}" if args.jobs > 1 else "")
    )
    print(f"Study: {command}", flush=True)

    runs = run_seeds(args, budget)

    figures = Path(args.results).resolve().parent / "results"
    figures.mkdir(parents=True, exist_ok=True)
    plotted = mean_rows(runs, args.grpo_seeds or args.seeds)
    if args.grpo_seeds:
        plot_accuracy_compute(plotted, figures / "accuracy_compute.png")
    plot_runs({r["name"]: r for r in mean_rows(runs, args.seeds)}, figures / "metrics.png")
    text = report(runs, args, budget, command, figures)
    Path(args.results).write_text(text)
    print(text)
    print(f"Wrote {args.results}; reproduce with: {command}")


if __name__ == "__main__":
    main()
