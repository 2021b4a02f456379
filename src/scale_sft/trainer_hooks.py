"""The contract with transformers' ``Trainer`` and TRL's trainers (and its argument parser): every method of theirs that this package
overrides, the private members it relies on, and what each mixin needs from the trainer it is mixed into.

Several of these are private (``_get_num_items_in_batch``, ``_get_grad_norm``, ...): an upgrade may rename or
drop one without notice, and the override would then silently stop running (a wrong loss normaliser, NaN
weights saved, resumed weights not restored). ``tests/test_trainer_hooks.py`` checks each entry against the
installed versions and names the entry that no longer holds. A new override or private use goes here.
"""

from __future__ import annotations

from typing import NamedTuple

TRAINER = "transformers.Trainer"
SFT_TRAINER = "trl.SFTTrainer"
GRPO_TRAINER = "trl.GRPOTrainer"
SCALE_SFT = "scale_sft.sft.sft_trainer.ScaleSFTTrainer"
SCALE_GRPO = "scale_sft.grpo.grpo_trainer.ScaleGRPOTrainer"
NONFINITE_GUARD = "scale_sft.nonfinite.NonFiniteGuard"
CHECKPOINT_COMPUTE = "scale_sft.compute.CheckpointCompute"
SAVE_GUARD = "scale_sft.checkpoints.SaveGuard"
ARGUMENT_PARSER = "transformers.HfArgumentParser"
COMMAND_PARSER = "scale_sft.cli.CommandParser"


class Hook(NamedTuple):
    """``by`` overrides ``base.name`` (same parameters, calling ``super()`` unless ``why`` says otherwise)."""

    base: str
    name: str
    by: str
    why: str


HOOKS = (
    Hook(TRAINER, "_get_num_items_in_batch", SCALE_SFT,
         "the loss normaliser (samples for SCALe, tokens for vanilla) over every micro-batch and rank of the step"),
    Hook(SFT_TRAINER, "compute_loss", SCALE_SFT,
         "the SCALe / vanilla loss from TRL's fused LM head; replaces SFTTrainer's loss (no super() call)"),
    Hook(SFT_TRAINER, "log", SCALE_SFT, "adds the per-segment losses, token counts and answer weight"),
    Hook(SFT_TRAINER, "_set_signature_columns_if_needed", SCALE_SFT,
         "keeps the columns the collator reads (messages, images), also for text-only data"),
    Hook(TRAINER, "_load_from_checkpoint", SCALE_SFT,
         "resumes a vision-language checkpoint through from_pretrained, which maps its key names"),
    Hook(GRPO_TRAINER, "_calculate_rewards", SCALE_GRPO, "counts the generated tokens over all ranks"),
    Hook(GRPO_TRAINER, "compute_loss", SCALE_GRPO, "counts the tokens of the policy-gradient pass"),
    Hook(TRAINER, "_get_grad_norm", NONFINITE_GUARD,
         "stops (or skips, counted) a step whose loss or gradients are not finite, before the update"),
    Hook(TRAINER, "save_model", NONFINITE_GUARD, "refuses to save non-finite weights"),
    Hook(TRAINER, "train", CHECKPOINT_COMPUTE, "restores the compute counts of the checkpoint it resumes from"),
    Hook(TRAINER, "_save_checkpoint", CHECKPOINT_COMPUTE, "writes compute.json into every checkpoint"),
    Hook(TRAINER, "train", SAVE_GUARD, "checks the free disk space for a checkpoint and the final model first"),
    Hook(TRAINER, "_save_checkpoint", SAVE_GUARD, "names a full disk and the last complete checkpoint"),
    Hook(TRAINER, "save_model", SAVE_GUARD, "names a full disk when the final save fails, nothing else lost"),
    Hook(ARGUMENT_PARSER, "_parse_dataclass_field", COMMAND_PARSER,
         "positional fields (compare's run folders) and none/null for optional numbers, on every command"),
)  # fmt: skip


class Use(NamedTuple):
    """``by`` reads or sets ``base.name`` without overriding a method."""

    base: str
    name: str
    by: str
    why: str


USES = (
    Use(TRAINER, "loss_is_scaled_for_ga", SCALE_SFT,
        "set True: compute_loss already divides by the whole step's normaliser, so Trainer must not divide again"),
    Use(TRAINER, "_get_output_dir", CHECKPOINT_COMPUTE, "the folder the checkpoint was just saved under"),
    Use(TRAINER, "_signature_columns", SCALE_SFT, "set by _set_signature_columns_if_needed"),
)  # fmt: skip

# What each mixin reads from the trainer it is mixed into (dotted: an attribute of an attribute), and who
# provides it: Trainer, TRL's trainer, our trainer classes (compute_meter, compute_summary) or our config
# (args.nonfinite, from CotMethodConfig).
NEEDS = {
    NONFINITE_GUARD: (
        "args.nonfinite", "accelerator.scaler", "state.global_step", "optimizer", "is_deepspeed_enabled", "model",
    ),
    CHECKPOINT_COMPUTE: (
        "args.output_dir", "compute_meter", "compute_summary", "state.global_step", "is_world_process_zero",
        "_get_output_dir",
    ),
}  # fmt: skip
