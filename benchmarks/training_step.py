"""Training-step benchmark: optimizer steps of ``ScaleSFTTrainer(loss_method="scale")``,
``ScaleSFTTrainer(loss_method="vanilla")`` and TRL's plain ``SFTTrainer`` on the same model (a tiny Qwen2.5-VL and a
~25M-parameter one) and the same ``messages`` records.

Each subprocess times its steps with a callback: the step time is the interval between consecutive
``on_step_end`` calls (data loading and collation included), the compute time ``on_step_begin`` to ``on_step_end``,
and the process CPU time (``time.process_time()``, all threads) over the same interval as the step time.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

from common import TRAINER_FUSED_OUTPUTS, TrainModel, cpu_s_per_token_runs
from memory import PeakMemory

VARIANTS = ("scale", "vanilla", "trl")
REFERENCES = ("trl", "vanilla")


def _trainer(method: str, spec: TrainModel, work: Path):
    """The model (seeded init, deterministic tokenizer training: the same for every variant, loaded by path) and
    the trainer for ``method``, over ``(warmup + steps) * batch`` synthetic records; returns (trainer, records)."""
    import datasets
    from transformers import AutoModelForImageTextToText, AutoProcessor
    from trl import SFTConfig, SFTTrainer

    from scale_sft import ScaleSFTConfig, ScaleSFTTrainer
    from scale_sft.data.synthetic import FEATURES, make_records
    from scale_sft.models.tiny import TinySize, make_tiny_model

    size = TinySize(**{k: getattr(spec, k) for k in TinySize.__dataclass_fields__})  # type: ignore[attr-defined]
    model_dir = make_tiny_model(work / "model", size=size, seed=0)
    model = AutoModelForImageTextToText.from_pretrained(model_dir)
    processor = AutoProcessor.from_pretrained(model_dir)
    n_steps = spec.warmup + spec.steps
    dataset = datasets.Dataset.from_list(make_records(n_steps * spec.batch, seed=7), features=FEATURES)
    common = dict(
        output_dir=str(work / "out"),
        per_device_train_batch_size=spec.batch,
        max_steps=n_steps,
        learning_rate=1e-4,
        lr_scheduler_type="constant",
        optim="adamw_torch",
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        seed=0,
        dataloader_num_workers=0,
        disable_tqdm=True,
        bf16=False,  # SFTConfig defaults bf16 to True (autocast on CPU); ScaleSFTConfig only on a bf16 GPU
    )
    if method == "trl":
        # TRL's default collator on the same `messages` records: identical input_ids / padding (checked by
        # `_same_inputs`); it supervises every non-pad token while ours supervises the completion, which on CPU
        # costs the same (the fused head scores every position there).
        trainer = SFTTrainer(
            model, args=SFTConfig(**common), train_dataset=dataset, processing_class=processor
        )
    else:
        config = ScaleSFTConfig(**common, loss_method=method)
        trainer = ScaleSFTTrainer(model, args=config, train_dataset=dataset, processing_class=processor)
    return trainer, dataset


def _same_inputs(trainer, dataset, batch: int) -> dict:
    """A batch of this trainer's collator against ``ScaleSFTCollator``'s: the variants must see the same tokens."""
    import torch

    from scale_sft.sft.collator import ScaleSFTCollator

    examples = [dict(dataset[i]) for i in range(batch)]
    ours = ScaleSFTCollator(processor=trainer.processing_class, max_length=trainer.args.max_length)(
        [dict(e) for e in examples]
    )
    theirs = trainer.data_collator([dict(e) for e in examples])
    same = torch.equal(ours["input_ids"], theirs["input_ids"]) and torch.equal(
        ours["attention_mask"], theirs["attention_mask"]
    )
    return {
        "same_input_ids_as_scale_collator": bool(same),
        "supervised_labels_first_batch": int((theirs["labels"][:, 1:] != -100).sum()),
    }


class CountingCollator:
    """Wraps a collator to count each batch's tokens (non-pad) and positions (with padding)."""

    def __init__(self, inner):
        self.inner, self.tokens, self.padded = inner, [], []

    def __call__(self, features):
        batch = self.inner(features)
        self.tokens.append(int(batch["attention_mask"].sum()))
        self.padded.append(int(batch["attention_mask"].numel()))
        return batch


def _step_timer(warmup: int, memory: PeakMemory):
    """A callback recording each step's begin / end wall time and end CPU time; it resets the peak-memory counter
    after the warm-up steps, so the peak covers the measured steps (their baseline is the set-up one)."""
    from transformers import TrainerCallback

    class StepTimer(TrainerCallback):
        def __init__(self):
            self.begin, self.end, self.cpu_end = [], [], []

        def on_step_begin(self, args, state, control, **kwargs):
            self.begin.append(time.perf_counter())

        def on_step_end(self, args, state, control, **kwargs):
            self.end.append(time.perf_counter())
            self.cpu_end.append(time.process_time())
            if len(self.end) == warmup:
                memory.reset()

    return StepTimer()


def measure(method: str, spec: TrainModel, work: Path) -> dict:
    """The subprocess's work: ``spec.warmup`` + ``spec.steps`` optimizer steps, the measured ones timed."""
    trainer, dataset = _trainer(method, spec, work)
    model = trainer.model
    same_inputs = _same_inputs(trainer, dataset, spec.batch)
    counting = CountingCollator(trainer.data_collator)
    trainer.data_collator = counting
    memory = PeakMemory()
    timer = _step_timer(spec.warmup, memory)
    trainer.add_callback(timer)
    params = sum(p.numel() for p in model.parameters())
    checksum = float(sum(p.double().sum() for p in model.parameters()))
    memory.start()
    trainer.train()
    result = memory.stop()
    measured = range(max(spec.warmup, 1), spec.warmup + spec.steps)  # an interval needs the step before it
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    result.update(
        times_s=[timer.end[i] - timer.end[i - 1] for i in measured],
        cpu_times_s=[timer.cpu_end[i] - timer.cpu_end[i - 1] for i in measured],
        compute_times_s=[timer.end[i] - timer.begin[i] for i in measured],
        tokens_per_step=statistics.mean(counting.tokens[i] for i in measured),
        padded_tokens_per_step=statistics.mean(counting.padded[i] for i in measured),
        **same_inputs,
        params=params,
        param_checksum=checksum,
        vocab=len(trainer.processing_class.tokenizer),
        gradient_checkpointing=bool(trainer.args.gradient_checkpointing),
        bf16=bool(trainer.args.bf16),
        fused_outputs=list(TRAINER_FUSED_OUTPUTS),
        first_loss=losses[0] if losses else None,
        last_loss=losses[-1] if losses else None,
    )
    return result


def summarise(res: dict) -> None:
    """Adds each trainer's throughputs (tokens/s on the median step, compute and CPU time; CPU seconds per token of
    the least disturbed subprocess) and scale against each reference (scale / this for throughputs and memory)."""
    variants = res["variants"]
    for v in variants.values():
        v["tokens_per_s"] = v["tokens_per_step"] / v["time_s"]
        v["compute_tokens_per_s"] = v["tokens_per_step"] / v["compute_time_s"]
        v["cpu_tokens_per_s"] = v["tokens_per_step"] / v["cpu_time_s"]
        v["cpu_s_per_token_runs"] = cpu_s_per_token_runs(v, v["tokens_per_step"])
        v["cpu_s_per_token"] = min(v["cpu_s_per_token_runs"])
    scale = variants["scale"]
    res["ratios"] = {
        other: {
            "cpu_throughput_best": variants[other]["cpu_s_per_token"] / scale["cpu_s_per_token"],
            "throughput": scale["tokens_per_s"] / variants[other]["tokens_per_s"],
            "compute_throughput": scale["compute_tokens_per_s"] / variants[other]["compute_tokens_per_s"],
            "cpu_throughput": scale["cpu_tokens_per_s"] / variants[other]["cpu_tokens_per_s"],
            # the fastest step is the one least disturbed by other jobs (same batches in the same order)
            "fastest_step_throughput": variants[other]["time_min_s"] / scale["time_min_s"],
            "memory": scale["peak_mb"] / variants[other]["peak_mb"],
        }
        for other in REFERENCES
    }
