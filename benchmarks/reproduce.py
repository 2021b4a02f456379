"""The seeded reproduction study: the demo's four pipelines over several seeds, plus SCALe schedule ablations.

    .venv/bin/python benchmarks/reproduce.py --seeds 0 1 2 [--ablation_seeds 0 1 2] [--budget full|quick] [--resume]

For every seed: the demo (vanilla SFT, SCALe-SFT, each + GRPO); for every ablation seed, SCALe-SFT with the
ablated schedules (``constant`` 0.5: length-independent weighting without curriculum; ``linear``; two more
(start, end) pairs of the cosine) on that seed's model and data. Writes ``results.json`` (every run) and
``docs/RESULTS.md`` (mean and standard deviation per metric and the measured wall-clock ratio of SCALe-SFT
to SFT + GRPO). ``--resume`` reuses the demos and ablations already finished under ``--output_dir``.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from scale_sft.demo import BUDGETS, evaluate_run, run_demo, train_sft

ABLATIONS = {
    "scale_constant_0.5": {"answer_weight_schedule": "constant", "answer_weight_start": 0.5},
    "scale_linear_0.2_0.8": {"answer_weight_schedule": "linear"},
    "scale_cosine_0.1_0.9": {"answer_weight_start": 0.1, "answer_weight_end": 0.9},
    "scale_cosine_0.4_0.6": {"answer_weight_start": 0.4, "answer_weight_end": 0.6},
}
METRICS = (
    "accuracy",
    "malformed_rate",
    "think_tokens_mean",
    "consistency_rate",
    "reasoning_correct_rate",
    "train_wall_clock_s",
)
ROOT = Path(__file__).resolve().parent.parent


def _mean_std(values: list[float]) -> str:
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.3f} ± {std:.3f}"


def ablation(out: Path, name: str, overrides: dict, budget, seed: int, resume: bool) -> dict:
    """Train and evaluate one ablated SCALe schedule on the seed's model and data (or reuse a finished one)."""
    run_dir = out / name
    if not (resume and (run_dir / "eval" / "metrics.json").is_file()):
        train_sft(out / "tiny-qwen2_5_vl", out / "data", run_dir, "scale", budget, seed, **overrides)
        evaluate_run(run_dir, out / "data", run_dir / "eval", budget)
    seconds = json.loads((run_dir / "run.json").read_text())["wall_clock_s"]
    return {
        "train_wall_clock_s": seconds,
        **json.loads((run_dir / "eval" / "metrics.json").read_text())["overall"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--ablation_seeds", type=int, nargs="*", default=None, help="Default: --seeds.")
    parser.add_argument("--budget", choices=sorted(BUDGETS), default="full")
    parser.add_argument("--output_dir", default="runs/reproduce")
    parser.add_argument("--results", default=str(ROOT / "docs" / "RESULTS.md"))
    parser.add_argument(
        "--resume", action="store_true", help="Reuse the runs already finished under --output_dir."
    )
    args = parser.parse_args()
    budget = BUDGETS[args.budget]
    ablation_seeds = args.seeds if args.ablation_seeds is None else args.ablation_seeds

    runs = []
    for seed in args.seeds:
        out = Path(args.output_dir) / f"seed{seed}"
        demo = out / "results.json"
        demo_runs = (
            json.loads(demo.read_text()) if args.resume and demo.is_file() else run_demo(out, budget, seed)
        )
        runs += [{"seed": seed, **run} for run in demo_runs["runs"]]
        for name, flags in ABLATIONS.items() if seed in ablation_seeds else ():
            runs.append({"seed": seed, "name": name, **ablation(out, name, flags, budget, seed, args.resume)})
    Path(args.output_dir, "results.json").write_text(json.dumps(runs, indent=2))

    names = list(dict.fromkeys(r["name"] for r in runs))
    lines = ["| run | " + " | ".join(METRICS) + " |", "| --- |" + " --- |" * len(METRICS)]
    for name in names:
        rows = [r for r in runs if r["name"] == name]
        lines.append(f"| {name} | " + " | ".join(_mean_std([r.get(m) for r in rows]) for m in METRICS) + " |")
    ratios = []
    for seed in args.seeds:
        by_name = {r["name"]: r for r in runs if r["seed"] == seed}
        ratios.append(
            by_name["scale_sft"]["train_wall_clock_s"] / by_name["vanilla_sft_grpo"]["train_wall_clock_s"]
        )
    command = (
        f".venv/bin/python benchmarks/reproduce.py --seeds {' '.join(map(str, args.seeds))} "
        f"--ablation_seeds {' '.join(map(str, ablation_seeds))} --budget {args.budget}"
    )
    Path(args.results).write_text(
        "# Seeded reproduction study\n\n"
        f"Command: `{command}` (budget {budget}).\n\n"
        f"Seeds: {args.seeds} (ablations: {ablation_seeds}); mean ± standard deviation over seeds.\n\n"
        + "\n".join(lines)
        + "\n\n"
        f"Wall-clock of SCALe-SFT / (SFT + GRPO), per seed: {', '.join(f'{r:.3f}' for r in ratios)}; "
        f"mean {statistics.mean(ratios):.3f}.\n"
    )
    print("\n".join(lines))


if __name__ == "__main__":
    main()
