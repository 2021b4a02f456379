"""Train a few ScaleSFTTrainer steps and save what ``test_sft_trainer_ddp.py`` compares across process counts.

Run directly (one process) or under ``accelerate launch`` with two CPU ranks::

    python tests/ddp_worker.py --model DIR --data DIR --out DIR --loss_method scale --per_device_batch 4
    accelerate launch --multi_gpu --num_processes 2 tests/ddp_worker.py ... --per_device_batch 2

``accelerate launch --cpu`` starts a single process (its multi-CPU path needs ``mpirun``), so two CPU ranks
are launched with ``--multi_gpu`` (torchrun underneath); ``use_cpu=True`` here then gives a gloo process group.

Writes to ``--out`` (to ``--out/METHOD`` for each of several ``--loss_method``): ``params_init.safetensors``
and ``params.safetensors`` (the trainable parameters before / after training) and ``logs.json`` (``trainer.state.log_history``, world size, backend) from rank 0, and
``ids_rank{R}.json`` from every rank: ``[id, THINK tokens, ANSWER tokens]`` of each sample of each micro-batch
that rank collated, in order (the last one is the dataloader's prefetch), to check that both layouts train on
the same samples.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch  # noqa: E402
import torch.distributed as dist  # noqa: E402
from safetensors.torch import save_file  # noqa: E402

from scale_sft.data.loading import load_cot_dataset
from scale_sft.data.prepare import prepare_dataset  # noqa: E402
from scale_sft.models.loading import load_model_and_processor  # noqa: E402
from scale_sft.segments import ANSWER, THINK  # noqa: E402
from scale_sft.sft.collator import ScaleSFTCollator  # noqa: E402
from scale_sft.sft.sft_config import ScaleSFTConfig  # noqa: E402
from scale_sft.sft.sft_trainer import ScaleSFTTrainer  # noqa: E402


def _to_cpu(params: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {name: p.detach().to("cpu", torch.float32).contiguous() for name, p in params.items()}


class RecordingCollator(ScaleSFTCollator):
    """``ScaleSFTCollator`` that also records each micro-batch's samples: ``[id, THINK tokens, ANSWER tokens]``."""

    ids_by_messages: dict[str, str] = {}
    seen: list[list[list]] = []

    def __call__(self, examples, *args, **kwargs):
        batch = super().__call__(examples, *args, **kwargs)
        ids = [self.ids_by_messages[json.dumps(ex["messages"])] for ex in examples]
        think = (batch["segment_ids"] == THINK).sum(dim=1).tolist()
        answer = (batch["segment_ids"] == ANSWER).sum(dim=1).tolist()
        self.seen.append([list(sample) for sample in zip(ids, think, answer, strict=True)])
        return batch


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument(
        "--loss_method",
        nargs="+",
        default=["scale"],
        choices=["scale", "vanilla", "adaptive", "step"],
        help="one method writes to --out; several (trained one after the other, sharing the start-up) "
        "write to --out/METHOD; `adaptive` is SCALe with the adaptive answer weight, `step` SCALe with "
        "segment means over the whole optimizer step",
    )
    parser.add_argument("--per_device_batch", type=int, required=True)
    parser.add_argument("--max_steps", type=int, default=2)
    parser.add_argument("--n_records", type=int, default=16, help="train on the first N records only")
    return parser.parse_args(argv)


def train_one(args, method: str, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    # adaptive: the weight follows the THINK loss, so a larger step makes that loss (and w) move visibly
    adaptive = {"answer_weight_schedule": "adaptive", "answer_weight_smoothing": 0.0, "learning_rate": 0.05}
    config = ScaleSFTConfig(
        output_dir=str(out / "trainer"),
        loss_method="scale" if method in ("adaptive", "step") else method,
        segment_normalization="step" if method == "step" else "sample",
        per_device_train_batch_size=args.per_device_batch,
        gradient_accumulation_steps=1,
        max_steps=args.max_steps,
        **(adaptive if method == "adaptive" else {"learning_rate": 1e-3}),
        optim="sgd",
        lr_scheduler_type="constant",
        warmup_steps=0,
        weight_decay=0.0,
        max_grad_norm=0.0,  # no clipping (clipping by the global norm would match too, but keep it plain SGD)
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        seed=0,
        data_seed=0,
        dataloader_num_workers=0,
        bf16=False,
        fp16=False,
        disable_tqdm=True,
        use_cpu=True,
    )
    model, processor = load_model_and_processor(args.model)
    if int(os.environ.get("RANK", "0")) == 0:
        initial = {name: p for name, p in model.named_parameters() if p.requires_grad}
        save_file(_to_cpu(initial), str(out / "params_init.safetensors"))
    raw = load_cot_dataset(args.data, "train")
    raw = raw.select(range(min(args.n_records, len(raw))))
    dataset, _ = prepare_dataset(raw, processor, config.tags, config.malformed, config.max_length)
    RecordingCollator.ids_by_messages = {
        json.dumps(messages): rid for messages, rid in zip(dataset["messages"], dataset["id"], strict=True)
    }
    RecordingCollator.seen = []
    collator = RecordingCollator(processor=processor, max_length=config.max_length, tags=config.tags)
    trainer = ScaleSFTTrainer(
        model, args=config, train_dataset=dataset, processing_class=processor, data_collator=collator
    )
    trainer.train()

    rank = trainer.accelerator.process_index
    (out / f"ids_rank{rank}.json").write_text(json.dumps(RecordingCollator.seen))
    compute = trainer.compute_summary()  # a collective: every rank calls it
    if trainer.is_world_process_zero():
        unwrapped = trainer.accelerator.unwrap_model(trainer.model)
        params = {name: p for name, p in unwrapped.named_parameters() if p.requires_grad}
        save_file(_to_cpu(params), str(out / "params.safetensors"))
        state = {
            "loss_method": method,
            "world_size": trainer.accelerator.num_processes,
            "distributed_type": str(trainer.accelerator.distributed_type),
            "backend": dist.get_backend() if dist.is_initialized() else None,
            "log_history": trainer.state.log_history,
            "compute": compute,
        }
        (out / "logs.json").write_text(json.dumps(state, indent=1))
    trainer.accelerator.wait_for_everyone()


def main(argv=None) -> None:
    args = parse_args(argv)
    out = Path(args.out)
    for method in args.loss_method:
        train_one(args, method, out / method if len(args.loss_method) > 1 else out)


if __name__ == "__main__":
    main()
