"""Training and evaluating a pipeline's stages, and reading each one's row (metrics and cost) from its files.

Every stage writes to ``output_dir / stage.name``: the trainer's ``run.json`` and checkpoints, the final
model's evaluation in ``eval/``, each checkpoint's in ``checkpoint-N/eval/``. Rows are read back from those
files, so a resumed run and a fresh one give the same rows.
"""

from __future__ import annotations

import json
from pathlib import Path

from trl import ModelConfig

from scale_sft.data.synthetic import corpus_texts, make_records, save_dataset
from scale_sft.evaluation.curves import accuracy_curve, compute_tokens
from scale_sft.evaluation.runner import evaluate
from scale_sft.experiments.base import base_budget, base_dir, is_built, save_base_data
from scale_sft.experiments.pipeline import BaseStage, Budget, Stage
from scale_sft.grpo.grpo_config import ScaleGRPOConfig
from scale_sft.grpo.recipe import GRPOArguments, grpo
from scale_sft.models.tiny import make_tiny_model
from scale_sft.sft.recipe import TrainArguments, train
from scale_sft.sft.sft_config import ScaleSFTConfig


def build_model(output_dir: Path, seed: int, task: str = "default") -> Path:
    """The seed's tiny model under ``output_dir``; for another task than the default, its tokenizer is trained
    on that task's corpus."""
    output_dir.mkdir(parents=True, exist_ok=True)
    texts = None  # make_tiny_model's default: the default task's corpus
    if task != "default":
        texts = corpus_texts(make_records(500, seed=seed, split="tokenizer", task=task))
    model = output_dir / "tiny-qwen2_5_vl"
    make_tiny_model(model, texts=texts, seed=seed)
    return model


def build_data(out: Path, budget: Budget, seed: int, task: str = "default", **options) -> Path:
    """The seed's synthetic dataset at ``out`` (``options``: more ``save_dataset`` settings, e.g. trace noise)."""
    save_dataset(out, n_train=budget.n_train, n_test=budget.n_test, seed=seed, task=task, **options)
    return out


def build_inputs(output_dir: Path, budget: Budget, seed: int, task: str = "default") -> tuple[Path, Path]:
    """The seed's tiny model and dataset under ``output_dir``."""
    model = build_model(output_dir, seed, task)
    return model, build_data(output_dir / "data", budget, seed, task)


def train_sft(
    model: Path, data: Path, out: Path, method: str, budget: Budget, seed: int, **overrides
) -> None:
    """Train one SFT stage (``overrides``: more ``ScaleSFTConfig`` fields, e.g. a schedule)."""
    config = ScaleSFTConfig(
        output_dir=str(out), loss_method=method, max_steps=budget.sft_steps, per_device_train_batch_size=8,
        learning_rate=budget.learning_rate, lr_scheduler_type="cosine", warmup_steps=10,
        logging_steps=max(budget.sft_steps // 20, 1), report_to="none", seed=seed, gradient_checkpointing=False,
        overwrite_output_dir=True, **budget.save_options(budget.sft_steps), **overrides,
    )  # fmt: skip
    train(TrainArguments(model=str(model), dataset=str(data)), config, ModelConfig())


def train_grpo(model: Path, data: Path, out: Path, budget: Budget, seed: int, **overrides) -> None:
    """Train one GRPO stage from ``model`` (``overrides``: more ``ScaleGRPOConfig`` fields)."""
    config = ScaleGRPOConfig(
        output_dir=str(out), max_steps=budget.grpo_steps, num_generations=budget.num_generations,
        per_device_train_batch_size=budget.num_generations * budget.grpo_prompts_per_step,
        max_completion_length=budget.max_new_tokens, learning_rate=budget.grpo_learning_rate,
        temperature=budget.grpo_temperature, logging_steps=1, report_to="none", seed=seed,
        gradient_checkpointing=False, rewards=["format", "accuracy"], overwrite_output_dir=True,
        **budget.save_options(budget.grpo_steps), **overrides,
    )  # fmt: skip
    grpo(GRPOArguments(model=str(model), dataset=str(data)), config, ModelConfig())


def evaluate_run(model: Path, data: Path, out: Path, budget: Budget, **options) -> dict:
    """Evaluate ``model`` on ``data``'s test split into ``out`` (``options``: more ``evaluate`` settings)."""
    return evaluate(
        str(model), data=str(data), limit=budget.n_test, batch_size=25, max_new_tokens=budget.max_new_tokens,
        output_dir=str(out), **options,
    )  # fmt: skip


def start_model(stage: Stage, model: Path, seed: int) -> Path:
    """The model the first stage of ``stage``'s pipeline starts from: the seed's tiny ``model``, or the
    pipeline's base, built here the first time a pipeline of this seed asks for it and reused after."""
    return model if stage.base is None else build_base(stage.base, model, seed)


def build_base(base: BaseStage, model: Path, seed: int) -> Path:
    """The seed's pretrained ``base`` of the tiny ``model``: trained and evaluated the first time, reused after."""
    path = base_dir(model, base, seed)
    if not is_built(path):
        print(f"\n=== base stage {path.name} ===", flush=True)
        data = save_base_data(path.with_name(f"{path.name}-data"), base, seed)
        budget = base_budget(base)
        train_sft(model, data, path, "vanilla", budget, seed)
        evaluate_run(path, data, path / "eval", budget)
    return path


def base_metrics(base: BaseStage | None, model: Path, seed: int) -> dict | None:
    """The overall metrics of the seed's built ``base`` (direct answers on held-out scenes, before any
    chain-of-thought data), with its folder; None for pipelines trained from scratch."""
    if base is None:
        return None
    path = base_dir(model, base, seed)
    metrics = json.loads((path / "eval" / "metrics.json").read_text())["overall"]
    return {"dir": path.name, **metrics}


def is_done(output_dir: Path, stage: Stage) -> bool:
    """Whether ``stage`` has been trained and its final model evaluated under ``output_dir``."""
    return (output_dir / stage.name / "eval" / "metrics.json").is_file()


def run_stage(
    output_dir: Path, stage: Stage, model: Path, data: Path, budget: Budget, seed: int, label: str = ""
) -> None:
    """Train ``stage`` from the model of the stage it continues (``model`` for a first stage: the seed's tiny
    model or its base) and evaluate it."""
    out = output_dir / stage.name
    start = output_dir / stage.after.name if isinstance(stage.after, Stage) else model
    print(f"\n=== {label}{stage.name} ===", flush=True)
    if stage.trainer == "sft":
        train_sft(start, data, out, stage.loss_method, budget, seed, **stage.overrides)
    else:
        train_grpo(start, data, out, budget, seed, **stage.overrides)
    evaluate_run(out, data, out / "eval", budget)


def correct_items(run_dir: Path) -> dict[int, bool]:
    """Which test items the run's final model answered correctly, by record index."""
    rows = map(json.loads, (run_dir / "eval" / "predictions.jsonl").read_text().splitlines())
    return {r["index"]: r["correct"] for r in rows}


def run_record(output_dir: Path, stage: Stage) -> dict:
    """The row of the pipeline ``stage`` ends, read from its files: the evaluation's overall metrics and the
    cost of all its stages (its first stage's cost apart as ``sft_*``)."""
    runs = [json.loads((output_dir / s.name / "run.json").read_text()) for s in stage.chain]
    tokens = [compute_tokens(r["compute"]) for r in runs]
    cpu = [r["compute"]["cpu_s"] for r in runs]
    metrics = json.loads((output_dir / stage.name / "eval" / "metrics.json").read_text())["overall"]
    return {
        "name": stage.name,
        "loss_method": runs[0]["loss_method"],
        "grpo": stage.trainer == "grpo",
        "sft_stage": stage.after.name if isinstance(stage.after, Stage) else None,
        "sft_tokens": tokens[0],
        "sft_cpu_s": cpu[0],
        "train_tokens": sum(tokens),
        "train_tokens_M": sum(tokens) / 1e6,
        "train_cpu_s": sum(cpu),
        "train_wall_clock_s": sum(r["wall_clock_s"] for r in runs),
        **metrics,
    }


def pipeline_curve(output_dir: Path, stage: Stage, data: Path, budget: Budget) -> list[dict]:
    """Accuracy against compute of the pipeline ``stage`` ends, evaluating each stage's checkpoints as
    ``evaluate_run`` does (evaluations are kept, so a stage shared by pipelines is evaluated once); each
    stage's curve continues the one before it."""

    def evaluate_checkpoint(model: Path, out: Path) -> None:
        evaluate_run(model, data, out, budget)

    curve = None
    for s in stage.chain:
        curve = accuracy_curve(output_dir / s.name, evaluate_checkpoint, curve)
    return curve


def pipeline_row(
    output_dir: Path,
    stage: Stage,
    model: Path,
    data: Path,
    budget: Budget,
    seed: int,
    resume: bool = False,
    label: str = "",
) -> dict:
    """Run the stage that ends a pipeline (its earlier stages must have run; its base is built if need be) and
    return the pipeline's row with its accuracy-against-compute curve; with ``resume``, a stage already
    evaluated is not run again, and one trained but not evaluated (interrupted) is only evaluated. ``model``: the
    seed's tiny model."""
    out = output_dir / stage.name
    if resume and not is_done(output_dir, stage) and (out / "run.json").is_file():
        evaluate_run(
            out, data, out / "eval", budget
        )  # trained (run.json comes last), its evaluation cut short
    elif not (resume and is_done(output_dir, stage)):
        run_stage(output_dir, stage, start_model(stage, model, seed), data, budget, seed, label)
    return {**run_record(output_dir, stage), "curve": pipeline_curve(output_dir, stage, data, budget)}
