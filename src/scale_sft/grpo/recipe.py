"""The ``scale-sft grpo`` recipe: GRPO from a ``scale-sft train`` checkpoint (full or LoRA) on the same data.

The dataset is the training format seen prompt-only: each record's conversation without its assistant
target, its images (none for a text-only model), and the gold ``answer`` / ``answer_type`` / ``choices`` and
``answer_format`` (``boxed`` for R1-style traces) the rewards read. Records are
checked as for SFT, plus their gold answer (``scale_sft.answers.validate_gold``), before any
generation.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import datasets
from trl import ModelConfig, get_peft_config

from scale_sft.answers import validate_gold
from scale_sft.data.format import is_text_only, message_text, probe_texts, prompt_messages
from scale_sft.data.loading import load_cot_dataset
from scale_sft.data.prepare import prepare_dataset
from scale_sft.grpo.grpo_config import ScaleGRPOConfig
from scale_sft.grpo.grpo_trainer import ScaleGRPOTrainer
from scale_sft.grpo.rewards import build_rewards
from scale_sft.models.loading import load_model_and_processor
from scale_sft.models.processor import ProcessorArguments, save_processor
from scale_sft.run_dir import RunClaim, claim_output_dir, run_settings
from scale_sft.run_record import finish_run


@dataclass
class GRPOArguments(ProcessorArguments):
    """What to continue from and train on (the GRPO hyper-parameters live in ``ScaleGRPOConfig``)."""

    model: str | None = field(
        default=None, metadata={"help": "A `scale-sft train` output directory (or hub name)."}
    )
    dataset: str | None = field(
        default=None, metadata={"help": "save_to_disk directory, JSON/JSONL file, or hub dataset name."}
    )
    dataset_split: str = field(default="train", metadata={"help": "Split to train on."})


def prompt_only(dataset: datasets.Dataset, text_only: bool = False) -> datasets.Dataset:
    """The prompt-only view GRPO samples from; the gold answer columns travel to the rewards. For a text-only
    model (``text_only``) every content is one string, as its chat template takes it (text parts joined)."""
    missing = {"answer", "answer_type"} - set(dataset.column_names)
    if missing:
        raise ValueError(f"GRPO needs the gold answer columns {sorted(missing)} in the dataset.")
    if "choices" not in dataset.column_names:
        dataset = dataset.add_column("choices", [[] for _ in range(len(dataset))])
    keep = {"messages", "images", "answer", "answer_type", "choices", "answer_format"}
    dataset = dataset.remove_columns([c for c in dataset.column_names if c not in keep])

    def content(message: dict) -> str | list[dict]:
        if text_only or isinstance(message["content"], str):
            return message_text(message)
        # Arrow gives every part the other part type's keys too, set to None
        return [{k: v for k, v in p.items() if v is not None} for p in message["content"]]

    def to_prompt(record: dict) -> dict:
        return {
            "prompt": [
                {"role": m["role"], "content": content(m)} for m in prompt_messages(record["messages"])
            ]
        }

    return dataset.map(to_prompt, remove_columns=["messages"])


def grpo(script_args: GRPOArguments, config: ScaleGRPOConfig, model_args: ModelConfig) -> dict:
    """Run GRPO and save the model, processor and ``run.json`` (wall-clock, generated tokens) to ``output_dir``."""
    if not script_args.model or not script_args.dataset:
        raise ValueError("Both --model and --dataset are required.")
    with claim_output_dir(config, run_settings(script_args, config, model_args)) as claim:
        return _grpo(script_args, config, model_args, claim)


def _grpo(
    script_args: GRPOArguments, config: ScaleGRPOConfig, model_args: ModelConfig, claim: RunClaim
) -> dict:
    started = time.perf_counter()
    model, processor = load_model_and_processor(
        script_args.model,
        model_args.dtype,
        config.trust_remote_code,
        model_args.attn_implementation,
        script_args.processor_options(),
    )
    with config.main_process_first(
        desc="checking the records"
    ):  # once per machine, the others read the cache
        raw = load_cot_dataset(script_args.dataset, script_args.dataset_split, config.allow_outside_images)
        dataset, report = prepare_dataset(
            raw,
            processor,
            config.tags,
            config.malformed,
            check=validate_gold,
            num_proc=config.dataset_num_proc,
            max_image_pixels=config.max_image_pixels,
        )
    print(f"GRPO data: {report.summary()}", flush=True)
    trainer = ScaleGRPOTrainer(
        model,
        reward_funcs=build_rewards(config.rewards, config.tags, config.max_completion_length),
        args=config,
        train_dataset=prompt_only(dataset, is_text_only(processor)),
        processing_class=processor,
        peft_config=get_peft_config(model_args),
    )
    trainer.add_callback(claim)
    result = trainer.train(resume_from_checkpoint=config.resume_from_checkpoint)
    trainer.save_model(config.output_dir)
    probes = probe_texts(processor, dataset, config.tags)  # must tokenize the same after reload
    save_processor(processor, config.output_dir, probes, config.trust_remote_code)
    trainer.save_state()
    return finish_run(
        trainer, result, started, script_args.model, script_args, model_args, config,
        command="grpo", data=report.to_dict(), rewards=config.rewards, reward_weights=config.reward_weights,
        generated_tokens=trainer.generated_tokens,
    )  # fmt: skip
