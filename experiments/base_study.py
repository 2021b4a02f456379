"""The seeded study in the paper's regime: every pipeline fine-tunes a pretrained base, on clean and noisy traces.

    .venv/bin/python experiments/base_study.py [--seeds 0 1 2 3 4] [--grpo_seeds 0 1 2] [--noise 0.2]
        [--conditions clean noisy] [--normalizations sample step] [--grpo_scale sample] [--grpo_conditions clean noisy]
        [--image_control blank] [--budget study|smoke] [--jobs 1] [--output_dir runs/base_study]
        [--results docs/RESULTS_BASE.md]

Per seed: a tiny model (tokenizer trained on the imbalanced task's corpus) and its pretrained base (a
``BaseStage``: vanilla SFT on scene descriptions and direct answers, no traces), built once and shared by every
condition of the seed. Per trace condition, ``clean`` (no noise) and ``noisy`` (a ``--noise`` share of traces
carry a wrong intermediate statement or an irrelevant digression, the gold answer kept, as distilled cold-start
traces do), the seed's dataset and, all from the base: vanilla SFT, SCALe-SFT per normalisation
(``segment_normalization``: ``sample``, each segment's mean per sample; ``step``, each segment's token mean over
the optimizer step); on GRPO seeds and in ``--grpo_conditions``, GRPO after vanilla SFT and after SCALe-SFT with
``--grpo_scale`` (pick the better normalisation from the SFT rows first). Every final model is evaluated on
the seed's test split and again with ``--image_control`` (the image blanked), so the table shows how much
accuracy comes from looking.

The report gives, per condition, mean ± standard deviation per pipeline, paired differences with percentile
bootstrap 95% intervals (as ``experiments/reproduce.py``), the base's accuracy answering directly and its
image-blind gap, and the number of test items the measured disagreement between paired models calls for. The
study always resumes: every stage with its evaluation on disk is reused, so an interrupted run continues (delete
``--output_dir`` to start over); ``--jobs`` runs the seeds' bases, then each pipeline, in that many processes. The from-scratch study (``experiments/reproduce.py``) gives the scratch rows.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import statistics
import sys
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, replace
from pathlib import Path

from reproduce import bootstrap_ci, mean_std, paired_differences

from scale_sft.experiments.base import base_budget, base_dir, is_built
from scale_sft.experiments.pipeline import BaseStage, Budget, Stage, in_training_order, paper_pipelines
from scale_sft.experiments.stages import (
    base_metrics,
    build_base,
    build_data,
    build_model,
    correct_items,
    evaluate_run,
    is_done,
    pipeline_row,
)

ROOT = Path(__file__).resolve().parent.parent
TASK = "imbalanced"
BUDGETS = {
    # SFT and GRPO as in the from-scratch study; 1,000 test items (see `items_needed`); no checkpoint curves
    "study": Budget(
        n_train=3000, n_test=1000, sft_steps=500, grpo_steps=40, num_generations=8, grpo_prompts_per_step=4,
        grpo_learning_rate=1e-4, grpo_temperature=0.7, max_new_tokens=512, checkpoints=0,
        base=BaseStage(steps=1000, n_scenes=2000, n_test=1000),
    ),
    "smoke": Budget(
        n_train=24, n_test=3, sft_steps=2, grpo_steps=1, num_generations=2, max_new_tokens=12, checkpoints=0,
        base=BaseStage(steps=2, n_scenes=8, n_test=3),
    ),
}  # fmt: skip
METRICS = ("accuracy", "accuracy_blind", "image_gap", "malformed_rate", "loop_rate", "think_tokens_mean")
COMPARED = ("accuracy", "malformed_rate")


def study_pipelines(base: BaseStage, normalizations: list[str], grpo_scale: str | None) -> tuple[Stage, ...]:
    """Vanilla SFT, SCALe-SFT per segment normalisation, and (``grpo_scale`` set) GRPO after vanilla SFT and
    after SCALe-SFT with that normalisation; all from ``base``."""
    vanilla, _, vanilla_grpo, _ = paper_pipelines(base)
    scale = {
        n: Stage(f"scale_{n}_sft", "sft", "scale", config=(("segment_normalization", n),), after=base)
        for n in normalizations
    }
    grpo = (
        ()
        if grpo_scale is None
        else (vanilla_grpo, Stage(f"scale_{grpo_scale}_sft_grpo", "grpo", after=scale[grpo_scale]))
    )
    return in_training_order((vanilla, *scale.values(), *grpo))


def blind_done(out: Path) -> bool:
    return (out / "eval_blind" / "metrics.json").is_file()


def evaluate_blind(out: Path, data: Path, budget: Budget, control: str, items: int | None = None) -> dict:
    """The final model of ``out`` scored with ``control`` applied to its images (kept in ``eval_blind``), on the
    first ``items`` test items (all of the budget's by default)."""
    if control == "none":
        return {}
    metrics_file = out / "eval_blind" / "metrics.json"
    if not blind_done(out):
        blind_budget = replace(budget, n_test=items) if items else budget
        evaluate_run(out, data, out / "eval_blind", blind_budget, image_control=control)
    blind = json.loads(metrics_file.read_text())["overall"]["accuracy"]
    return {"accuracy_blind": blind}


def blind_gap(
    row: dict, out: Path, data: Path, budget: Budget, control: str, items: int | None = None
) -> dict:
    """``row`` with the image-blind accuracy of the model in ``out`` and the gap to its accuracy."""
    row |= evaluate_blind(out, data, budget, control, items)
    if "accuracy_blind" in row:
        row["image_gap"] = row["accuracy"] - row["accuracy_blind"]
    return row


def prepare_seed(out: Path, budget: Budget, seed: int, conditions: dict[str, float], control: str) -> dict:
    """The seed's tiny model, its pretrained base and each condition's dataset (each built once, reused after);
    returns the base's row."""
    model = out / "tiny-qwen2_5_vl"
    if not model.is_dir():
        build_model(out, seed, TASK)
    build_base(budget.base, model, seed)
    for condition, noise in conditions.items():
        if not (out / condition / "data").is_dir():
            build_data(out / condition / "data", budget, seed, TASK, **({"noise": noise} if noise else {}))
    path = base_dir(model, budget.base, seed)
    base = blind_gap(
        base_metrics(budget.base, model, seed), path, path.with_name(f"{path.name}-data"),
        base_budget(budget.base), control,
    )  # fmt: skip
    return {"seed": seed, "condition": "base", "name": "base (direct answers)", **base}


def run_pipeline(
    out: Path, budget: Budget, seed: int, condition: str, stage: Stage, control: str, blind_items: int | None
) -> dict:
    """The row of the pipeline ``stage`` ends, in one condition of a prepared seed (a finished stage is reused;
    a GRPO stage needs its SFT stage finished)."""
    cond_dir, data = out / condition, out / condition / "data"
    label = f"seed {seed} {condition}: "
    row = pipeline_row(cond_dir, stage, out / "tiny-qwen2_5_vl", data, budget, seed, resume=True, label=label)
    return {
        "seed": seed,
        "condition": condition,
        **blind_gap(row, cond_dir / stage.name, data, budget, control, blind_items),
    }


def _job(fn, out: Path, threads: int, *fn_args) -> object:
    """``fn(out, *fn_args)`` in a worker process: its own CPU threads, its output appended to ``out/log.txt``."""
    import torch

    torch.set_num_threads(threads)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "log.txt", "a") as log:
        sys.stdout = sys.stderr = log
        return fn(out, *fn_args)


def run_study(args, budget: Budget, conditions: dict[str, float]) -> list[dict]:
    """Every seed's rows (per seed: each condition's pipelines, then its base), in seed order; ``results.json``
    is rewritten as each piece finishes. With ``--jobs`` > 1, pieces run in that many processes at once, each
    with an equal share of the CPU threads: first each seed's base and data, then each pipeline as soon as
    what it starts from is ready (SFT stages that GRPO continues first)."""
    output_dir = Path(args.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    plan = {
        (seed, condition): study_pipelines(
            budget.base, args.normalizations,
            args.grpo_scale if seed in args.grpo_seeds and condition in args.grpo_conditions else None,
        )
        for seed in args.seeds
        for condition in conditions
    }  # fmt: skip
    done: dict[tuple[int, str, str], dict] = {}

    def finished(key: tuple[int, str, str], row: dict) -> None:
        done[key] = row
        (output_dir / "results.json").write_text(json.dumps(in_order(), indent=2))

    def in_order() -> list[dict]:
        keys = [
            key
            for seed in args.seeds
            for key in [(seed, c, s.name) for c in conditions for s in plan[seed, c]]
            + [(seed, "base", "base")]
        ]
        return [done[key] for key in keys if key in done]

    def seed_dir(seed: int) -> Path:
        return output_dir / f"seed{seed}"

    def pipeline_args(seed: int, condition: str, stage: Stage) -> tuple:
        """``run_pipeline``'s arguments for one pipeline of the plan."""
        return seed_dir(seed), budget, seed, condition, stage, args.image_control, args.blind_items

    def evaluated(out: Path) -> bool:
        return args.image_control == "none" or blind_done(out)

    if args.report_only:  # the finished pipelines only: nothing is trained or evaluated
        for seed in args.seeds:
            for condition in conditions:
                for stage in plan[seed, condition]:
                    out = seed_dir(seed) / condition / stage.name
                    if is_done(out.parent, stage) and evaluated(out):
                        finished(
                            (seed, condition, stage.name),
                            run_pipeline(*pipeline_args(seed, condition, stage)),
                        )
            base = base_dir(seed_dir(seed) / "tiny-qwen2_5_vl", budget.base, seed)
            if is_built(base) and evaluated(base):
                finished(
                    (seed, "base", "base"), prepare_seed(seed_dir(seed), budget, seed, {}, args.image_control)
                )
        return in_order()
    if args.jobs == 1:
        for seed in args.seeds:
            base = prepare_seed(seed_dir(seed), budget, seed, conditions, args.image_control)
            for condition in conditions:
                for stage in plan[seed, condition]:
                    finished(
                        (seed, condition, stage.name), run_pipeline(*pipeline_args(seed, condition, stage))
                    )
            finished((seed, "base", "base"), base)
        return in_order()

    threads = max((os.cpu_count() or 1) // args.jobs, 1)
    with ProcessPoolExecutor(args.jobs, mp_context=multiprocessing.get_context("spawn")) as pool:

        def submit(seed: int, condition: str, stage: Stage) -> None:
            out, *rest = pipeline_args(seed, condition, stage)
            pending[pool.submit(_job, run_pipeline, out, threads, *rest)] = (seed, condition, stage)

        pending: dict = {
            pool.submit(
                _job, prepare_seed, seed_dir(seed), threads, budget, seed, conditions, args.image_control
            ): (seed, "base", None)
            for seed in args.seeds
        }
        while pending:
            future = next(as_completed(pending))
            seed, condition, stage = pending.pop(future)
            name = stage.name if stage else "base"
            finished((seed, condition, name), future.result())
            print(f"seed {seed} {condition} {name} done (log: {seed_dir(seed) / 'log.txt'})", flush=True)
            if stage is None:  # the seed is prepared: its SFT stages, those that GRPO continues first
                firsts = [(c, s) for c in conditions for s in plan[seed, c] if s.trainer == "sft"]
                continued = {(c, g.after) for c in conditions for g in plan[seed, c] if g.trainer == "grpo"}
                for c, s in sorted(firsts, key=lambda cs: cs not in continued):
                    submit(seed, c, s)
            else:
                for follow in (s for s in plan[seed, condition] if s.after == stage):
                    submit(seed, condition, follow)
    return in_order()


def items_needed(discordance: float, difference: float = 0.03, seeds: int = 5, z: float = 2.0) -> int:
    """Test items per seed at which a paired accuracy ``difference`` is ``z`` standard errors of item sampling
    when averaged over ``seeds``: two models scored on the same n items that disagree on a share d of them
    have a difference whose item-sampling standard error is at most sqrt(d / n) per seed."""
    return math.ceil(z**2 * discordance / (difference**2 * seeds))


def discordance(out: Path, seeds: list[int], condition: str, a: str, b: str) -> float:
    """The share of test items on which pipelines ``a`` and ``b`` of the same seed disagree (one right)."""
    shares = []
    for seed in seeds:
        dirs = [out / f"seed{seed}" / condition / name for name in (a, b)]
        if all((d / "eval" / "predictions.jsonl").is_file() for d in dirs):
            ca, cb = correct_items(dirs[0]), correct_items(dirs[1])
            shares.append(sum(ca[i] != cb[i] for i in ca) / len(ca))
    return statistics.fmean(shares) if shares else float("nan")


def comparisons(stages: tuple[Stage, ...]) -> list[tuple[str, str]]:
    """(pipeline, baseline) pairs the study asks about: each SCALe-SFT against vanilla SFT, the step
    normalisation against the sample one, each GRPO pipeline against its SFT stage, SCALe + GRPO against
    vanilla + GRPO."""
    sft = [s for s in stages if s.trainer == "sft"]
    grpo = [s for s in stages if s.trainer == "grpo"]
    pairs = [(s.name, sft[0].name) for s in sft[1:]]
    pairs += [(b.name, a.name) for a, b in zip(sft[1:], sft[2:], strict=False)]
    pairs += [(g.name, g.after.name) for g in grpo]
    return pairs + [(b.name, a.name) for a, b in zip(grpo, grpo[1:], strict=False)]


def condition_section(
    runs: list[dict], condition: str, out: Path, seeds: list[int], stages: tuple[Stage, ...]
) -> list[str]:
    """One condition's table of pipelines and its paired differences."""
    rows = [r for r in runs if r["condition"] == condition]
    names = list(dict.fromkeys(r["name"] for r in rows))
    lines = [f"## {condition}", "", "| pipeline | seeds | " + " | ".join(METRICS) + " |"]
    lines.append("| --- | --- |" + " --- |" * len(METRICS))
    for name in names:
        group = [r for r in rows if r["name"] == name]
        cells = " | ".join(mean_std([r.get(m) for r in group]) for m in METRICS)
        lines.append(f"| {name} | {len(group)} | {cells} |")
    if condition == "base":
        return [*lines, ""]
    lines += [
        "",
        "| pipeline − baseline | metric | mean | bootstrap 95% CI | disagreeing items | items needed |",
    ]
    lines.append("| --- | --- | --- | --- | --- | --- |")
    for name, baseline in comparisons(stages):
        d = discordance(out, seeds, condition, name, baseline)
        for metric in COMPARED:
            paired = paired_differences(rows, name, baseline, metric)
            if paired:
                low, high = bootstrap_ci(list(paired.values()))
                needed = items_needed(d, seeds=len(paired)) if d == d else "-"  # nan: no predictions
                lines.append(
                    f"| {name} − {baseline} | {metric} | {statistics.fmean(paired.values()):+.3f} | "
                    f"[{low:+.3f}, {high:+.3f}] | {d:.3f} | {needed} |"
                )
    return [*lines, ""]


def summary(runs: list[dict], conditions: list[str], stages: tuple[Stage, ...]) -> list[str]:
    """The conditions table: per comparison and trace condition, the paired accuracy difference with its
    bootstrap 95% interval and what the interval says (higher or lower when it excludes 0)."""
    lines = [
        "## Summary: accuracy, pipeline − baseline (mean over seeds, bootstrap 95% interval)",
        "",
        "| pipeline − baseline | " + " | ".join(conditions) + " |",
        "| --- |" + " --- |" * len(conditions),
    ]
    for name, baseline in comparisons(stages):
        cells = []
        for condition in conditions:
            rows = [r for r in runs if r["condition"] == condition]
            paired = list(paired_differences(rows, name, baseline, "accuracy").values())
            if not paired:
                cells.append("-")
                continue
            low, high = bootstrap_ci(paired)
            verdict = "higher" if low > 0 else "lower" if high < 0 else "no clear difference"
            cells.append(
                f"{statistics.fmean(paired):+.3f} [{low:+.3f}, {high:+.3f}], {verdict} ({len(paired)} seeds)"
            )
        lines.append(f"| {name} − {baseline} | " + " | ".join(cells) + " |")
    return [*lines, ""]


def report(runs: list[dict], args, budget: Budget, command: str) -> str:
    stages = study_pipelines(budget.base, args.normalizations, args.grpo_scale if args.grpo_seeds else None)
    conditions = [c for c in dict.fromkeys(r["condition"] for r in runs) if c != "base"]
    sections = [
        line
        for c in dict.fromkeys(r["condition"] for r in runs)
        for line in condition_section(runs, c, Path(args.output_dir), args.seeds, stages)
    ]
    return "\n".join(
        [
            "# Seeded study in the paper's regime (fine-tuning a pretrained base)",
            "",
            f"Command: `{command}`",
            "",
            *(
                [
                    "Written with `--report_only` from the pipelines finished so far: the `seeds` column counts them, "
                    "and the command above trains the rest.",
                    "",
                ]
                if args.report_only
                else []
            ),
            f"Task `{TASK}`, budget {asdict(budget)}; seeds {args.seeds} (GRPO: {args.grpo_seeds}); noisy traces: "
            f"{args.noise}; image control `{args.image_control}` (`accuracy_blind`; `image_gap` = accuracy − "
            "accuracy_blind); method in the docstring of `experiments/base_study.py`. `items needed`: test items "
            "per seed at which the difference in the first column is two item-sampling standard errors, given "
            "the measured share of items the two models disagree on (`items_needed`).",
            "",
            *summary(runs, conditions, stages),
            *sections,
        ]
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--grpo_seeds", type=int, nargs="*", default=[0, 1, 2])
    parser.add_argument(
        "--noise",
        type=float,
        default=0.2,
        help="Share of noisy traces in the noisy condition; 0: clean only.",
    )
    parser.add_argument(
        "--conditions",
        nargs="+",
        choices=("clean", "noisy"),
        default=["clean", "noisy"],
        help="Trace conditions to run (noisy only with --noise > 0).",
    )
    parser.add_argument("--normalizations", nargs="+", choices=("sample", "step"), default=["sample", "step"])
    parser.add_argument("--grpo_scale", choices=("sample", "step"), default="sample")
    parser.add_argument(
        "--grpo_conditions",
        nargs="+",
        choices=("clean", "noisy"),
        default=["clean", "noisy"],
        help="Trace conditions whose GRPO seeds also run the GRPO pipelines.",
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="Processes at once (bases, then seed-and-condition pieces), each with an equal share of the CPU.",
    )
    parser.add_argument("--image_control", choices=("blank", "shuffle", "none"), default="blank")
    parser.add_argument(
        "--blind_items",
        type=int,
        default=None,
        help="Test items of each pipeline's image-blind evaluation (default: all); bases use all.",
    )
    parser.add_argument("--budget", choices=sorted(BUDGETS), default="study")
    parser.add_argument("--output_dir", default="runs/base_study")
    parser.add_argument(
        "--report_only",
        action="store_true",
        help="Write the report from the pipelines already finished under --output_dir; train nothing.",
    )
    parser.add_argument("--results", default=str(ROOT / "docs" / "RESULTS_BASE.md"))
    args = parser.parse_args(argv)
    if not set(args.grpo_seeds) <= set(args.seeds):
        parser.error("--grpo_seeds must be among --seeds.")
    if args.grpo_scale not in args.normalizations:
        parser.error("--grpo_scale must be one of --normalizations.")
    budget = BUDGETS[args.budget]
    conditions = {
        c: 0.0 if c == "clean" else args.noise for c in args.conditions if c == "clean" or args.noise
    }
    if not conditions:
        parser.error("--conditions noisy needs --noise > 0.")
    argv = [a for a in (argv if argv is not None else sys.argv[1:]) if a != "--report_only"]
    command = " ".join([".venv/bin/python experiments/base_study.py", *argv])
    print(f"Study: {command}", flush=True)
    runs = run_study(args, budget, conditions)
    text = report(runs, args, budget, command)
    Path(args.results).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
