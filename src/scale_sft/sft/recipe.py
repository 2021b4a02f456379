"""The ``scale-sft train`` recipe: load model and data, filter the data, train, save model + ``run.json``."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from trl import ModelConfig, get_peft_config

from scale_sft.data.format import probe_texts
from scale_sft.data.loading import load_cot_dataset
from scale_sft.data.prepare import prepare_dataset
from scale_sft.models.loading import freeze_vision_tower, load_model_and_processor
from scale_sft.models.processor import ProcessorArguments, save_processor
from scale_sft.run_dir import RunClaim, claim_output_dir, run_settings
from scale_sft.run_record import finish_run
from scale_sft.sft.sft_config import ScaleSFTConfig
from scale_sft.sft.sft_trainer import ScaleSFTTrainer


@dataclass
class TrainArguments(ProcessorArguments):
    """What to train on (the training hyper-parameters live in ``ScaleSFTConfig``)."""

    model: str | None = field(default=None, metadata={"help": "Hub name or local path of the model."})
    dataset: str | None = field(
        default=None, metadata={"help": "save_to_disk directory, JSON/JSONL file, or hub dataset name."}
    )
    dataset_split: str = field(default="train", metadata={"help": "Split to train on."})
    eval_split: str | None = field(default=None, metadata={"help": "Optional split to evaluate the loss on."})


def train(script_args: TrainArguments, config: ScaleSFTConfig, model_args: ModelConfig) -> dict:
    """Train with ``config.loss_method`` and save the model, processor and ``run.json`` to ``output_dir``, which
    this run holds from the start (``scale_sft.run_dir``)."""
    name = script_args.model or model_args.model_name_or_path
    if not name or not script_args.dataset:
        raise ValueError("Both --model and --dataset are required.")
    with claim_output_dir(config, run_settings(script_args, config, model_args)) as claim:
        return _train(name, script_args, config, model_args, claim)


def _train(
    name: str, script_args: TrainArguments, config: ScaleSFTConfig, model_args: ModelConfig, claim: RunClaim
) -> dict:
    started = time.perf_counter()
    model, processor = load_model_and_processor(
        name,
        model_args.dtype,
        config.trust_remote_code,
        model_args.attn_implementation,
        script_args.processor_options(),
    )

    if config.freeze_vision_tower:
        print(f"Froze {freeze_vision_tower(model):,} vision-tower parameters.", flush=True)

    def load(split: str):
        # once per machine: the main process checks (and caches), the others then read its result
        with config.main_process_first(desc=f"checking the {split} records"):
            raw = load_cot_dataset(script_args.dataset, split, config.allow_outside_images)
            return prepare_dataset(
                raw,
                processor,
                config.tags,
                config.malformed,
                config.max_length,
                num_proc=config.dataset_num_proc,
                max_image_pixels=config.max_image_pixels,
            )

    train_dataset, report = load(script_args.dataset_split)
    print(f"Training data: {report.summary()}", flush=True)
    eval_dataset, eval_report = load(script_args.eval_split) if script_args.eval_split else (None, None)

    trainer = ScaleSFTTrainer(
        model,
        args=config,
        train_dataset=train_dataset,
        eval_dataset=eval_dataset,
        processing_class=processor,
        peft_config=get_peft_config(model_args),
    )
    trainer.add_callback(claim)
    result = trainer.train(resume_from_checkpoint=config.resume_from_checkpoint)
    trainer.save_model(config.output_dir)
    trainer.save_state()  # trainer_state.json with the logged per-segment metrics
    probes = probe_texts(processor, train_dataset, config.tags)  # must tokenize the same after reload
    save_processor(processor, config.output_dir, probes, config.trust_remote_code)

    return finish_run(
        trainer, result, started, name, script_args, model_args, config,
        command="train", loss_method=config.loss_method, segment_normalization=config.segment_normalization,
        data=report.to_dict(),
        eval_data=eval_report.to_dict() if eval_report else None,
    )  # fmt: skip
