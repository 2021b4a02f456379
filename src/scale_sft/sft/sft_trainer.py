"""``ScaleSFTTrainer``: TRL's ``SFTTrainer`` with the SCALe (or vanilla) loss on THINK / ANSWER segments.

Small overrides:

- ``_get_num_items_in_batch`` counts the loss normalizer (samples for SCALe, THINK and ANSWER tokens for SCALe
  with ``segment_normalization="step"``, tokens for vanilla) over every micro-batch of the optimizer step and
  every rank, so the step's gradient is the same however it is split;
- ``compute_loss`` takes per-token log-probabilities from TRL's fused LM head (no vocabulary logits) and
  applies ``scale_loss`` with the scheduled answer weight at ``global_step / max_steps`` (or the adaptive
  weight, ``sft/adaptive.py``, which it feeds the step's THINK loss summed over micro-batches and ranks);
- ``log`` adds ``loss_think``, ``loss_answer`` (mean CE per segment), ``answer_share`` (the share of the loss
  weight on ANSWER tokens), the THINK/ANSWER token counts, and TRL's ``entropy`` / ``mean_token_accuracy``;
- ``NonFiniteGuard`` stops (or skips, counted) a step whose loss or gradients are not finite;
- ``SaveGuard`` checks the free disk space before training and names a full disk when a save fails;
- ``compute_meter`` counts the training tokens and CPU seconds (``scale_sft.compute``), and every checkpoint
  gets them as ``compute.json`` (``CheckpointCompute``);
- ``_set_signature_columns_if_needed`` keeps the record columns the collator reads (``messages``, images) for
  text-only datasets too, which TRL would otherwise drop as unused model inputs, and the ``length`` column that
  preparation writes, without which ``train_sampling_strategy="group_by_length"`` fails on vision data;
- ``_load_from_checkpoint`` works around a transformers 5 resume bug for vision-language checkpoints.
"""

from __future__ import annotations

import os

import torch
from transformers.utils import SAFE_WEIGHTS_NAME
from trl import SFTTrainer

from scale_sft.checkpoints import SaveGuard
from scale_sft.compute import CheckpointCompute, ComputeMeter
from scale_sft.loss import loss_normalizer, scale_loss
from scale_sft.nonfinite import NonFiniteGuard
from scale_sft.schedules import answer_weight
from scale_sft.sft.adaptive import AdaptiveWeightCallback
from scale_sft.sft.collator import ScaleSFTCollator
from scale_sft.sft.sft_config import ScaleSFTConfig

# The sums `compute_loss` accumulates between two logging steps, reduced over ranks in one call.
SUMS = (
    "think_ce", "think_tokens", "answer_ce", "answer_tokens", "answer_share", "weight",
    "entropy", "top1", "scored", "answer_weight", "steps",
)  # fmt: skip


def next_token_segments(segment_ids: torch.Tensor) -> torch.Tensor:
    """Segment ids aligned with the next-token log-probabilities (position ``t`` predicts token ``t + 1``)."""
    return segment_ids[:, 1:]


class ScaleSFTTrainer(CheckpointCompute, SaveGuard, NonFiniteGuard, SFTTrainer):
    """SFT on chain-of-thought data with separately normalised, scheduled THINK and ANSWER losses.

    Takes the same arguments as ``SFTTrainer`` with a ``ScaleSFTConfig``. The dataset must be conversational:
    ``messages`` + ``images`` for a vision-language model, ``messages`` alone for a text-only causal LM (whose
    ``processing_class`` is its tokenizer; TRL refuses any ``images`` column there, which
    ``scale_sft.data.prepare.prepare_dataset`` drops). Filter it with ``prepare_dataset``; the default collator
    is ``ScaleSFTCollator``.
    """

    # `compute_loss` divides by the whole step's normalizer, so Trainer must not divide again by the GA steps.
    loss_is_scaled_for_ga = True

    def __init__(self, model, args: ScaleSFTConfig, processing_class=None, data_collator=None, **kwargs):
        if not isinstance(args, ScaleSFTConfig):
            raise TypeError("ScaleSFTTrainer needs a ScaleSFTConfig.")
        if data_collator is None:
            if processing_class is None:
                raise ValueError("Pass the model's processor as `processing_class`.")
            data_collator = ScaleSFTCollator(
                processor=processing_class, max_length=args.max_length, tags=args.tags
            )
        super().__init__(
            model, args=args, processing_class=processing_class, data_collator=data_collator, **kwargs
        )
        self._sums = {mode: dict.fromkeys(SUMS, 0.0) for mode in ("train", "eval")}
        self.compute_meter = ComputeMeter()
        self.add_callback(self.compute_meter)
        if args.answer_weight_schedule == "adaptive":
            self.add_callback(
                AdaptiveWeightCallback(
                    args.answer_weight_start, args.answer_weight_end, args.answer_weight_smoothing
                )
            )

    @property
    def adaptive_weight(self) -> AdaptiveWeightCallback | None:
        """The adaptive schedule's state (looked up, as a resume may replace the callback), or None."""
        return next(
            (c for c in self.callback_handler.callbacks if isinstance(c, AdaptiveWeightCallback)), None
        )

    @property
    def answer_weight(self) -> float:
        """The answer weight of the current optimizer step: the schedule at ``global_step / max_steps``, or
        the adaptive weight from the steps measured so far."""
        args = self.args
        if args.answer_weight_schedule == "adaptive":
            return self.adaptive_weight.weight
        progress = min(self.state.global_step / max(self.state.max_steps, 1), 1.0)
        return answer_weight(
            progress, args.answer_weight_schedule, args.answer_weight_start, args.answer_weight_end
        )

    def _get_num_items_in_batch(self, batch_samples: list, device: torch.device) -> torch.Tensor | None:
        """The step's loss normalizer, counted over all its micro-batches and all ranks."""
        if not batch_samples:
            return None
        args = self.args
        count = sum(
            loss_normalizer(
                next_token_segments(b["segment_ids"]), args.loss_method, args.segment_normalization
            )
            for b in batch_samples
        )
        count = torch.as_tensor(count, device=device)
        if args.world_size > 1:
            count = self.accelerator.reduce(count, reduction="sum")
        return count

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        mode = "train" if model.training else "eval"
        segment_ids = next_token_segments(inputs.pop("segment_ids"))
        if mode == "train":
            self.compute_meter.count(inputs["attention_mask"])
        inputs["use_cache"] = False
        outputs = model(**inputs, fused_lm_head=True)
        # In training the normalizer spans the whole step (all micro-batches and ranks); DDP then averages the
        # ranks' gradients, which the `num_processes` factor undoes. In evaluation each batch is its own mean.
        step_normalizer = num_items_in_batch if mode == "train" else None
        weight = self.answer_weight
        result = scale_loss(
            -outputs.log_probs, segment_ids, self.args.loss_method, weight, step_normalizer,
            self.args.segment_normalization,
        )  # fmt: skip
        loss = result.loss
        if step_normalizer is not None:
            loss = loss * self.accelerator.num_processes
        sums = {
            **result.sums(),
            # TRL's fused head also returns entropy and top-1 hits: logged under SFTTrainer's names.
            "entropy": outputs.entropy.detach().sum(),
            "top1": outputs.is_top1.sum(),
            "scored": outputs.label_mask.sum(),
            "answer_weight": weight,
            "steps": 1,
        }
        reduced = self.accelerator.reduce(
            torch.tensor([float(sums[k]) for k in SUMS], device=loss.device), reduction="sum"
        ).tolist()
        for key, value in zip(SUMS, reduced, strict=True):
            self._sums[mode][key] += value
        if mode == "train" and self.adaptive_weight is not None:  # step-global: summed over ranks above
            self.adaptive_weight.observe(reduced[SUMS.index("think_ce")], reduced[SUMS.index("think_tokens")])
        return (loss, outputs) if return_outputs else loss

    def compute_summary(self) -> dict:
        """The run's ``compute`` entry (``ComputeMeter.summary``); call it on every rank."""
        return self.compute_meter.summary(self.accelerator)

    def _set_signature_columns_if_needed(self):
        if self._signature_columns is None:
            # the record columns the collator reads, and the token counts `group_by_length` samples by
            self._signature_columns = ["messages", "image", "images", self.args.length_column_name]

    def _load_from_checkpoint(self, resume_from_checkpoint: str, model=None) -> None:
        """Resume full-model checkpoints through ``from_pretrained``, which maps the saved key names.

        transformers 5 saves vision-language models (Qwen2.5-VL, Gemma 3, LLaVA-NeXT) under their original
        checkpoint key names but ``Trainer`` loads the file with a raw ``load_state_dict(strict=False)``, so
        every weight is silently left at its pre-resume value. Adapters, FSDP and sharded saves keep the
        ``Trainer`` path.
        """
        model = self.model if model is None else model
        weights = os.path.join(resume_from_checkpoint, SAFE_WEIGHTS_NAME)
        if self.is_fsdp_enabled or not os.path.isfile(weights) or hasattr(model, "peft_config"):
            return super()._load_from_checkpoint(resume_from_checkpoint, model)
        dtype = next(model.parameters()).dtype
        saved = type(model).from_pretrained(resume_from_checkpoint, dtype=dtype)
        model.load_state_dict(saved.state_dict(), strict=True)

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        mode = "train" if self.model.training else "eval"
        s = self._sums[mode]
        if s["think_tokens"] + s["answer_tokens"] > 0:
            prefix = "eval_" if mode == "eval" else ""
            logs[f"{prefix}entropy"] = s["entropy"] / s["scored"]
            logs[f"{prefix}mean_token_accuracy"] = s["top1"] / s["scored"]
            logs[f"{prefix}loss_think"] = s["think_ce"] / s["think_tokens"] if s["think_tokens"] else 0.0
            logs[f"{prefix}loss_answer"] = s["answer_ce"] / s["answer_tokens"] if s["answer_tokens"] else 0.0
            logs[f"{prefix}think_tokens"] = int(s["think_tokens"])
            logs[f"{prefix}answer_tokens"] = int(s["answer_tokens"])
            logs[f"{prefix}answer_share"] = s["answer_share"] / s["weight"]
            if self.args.loss_method == "scale":
                # the mean weight the logged steps trained with (the schedule moves once per optimizer step)
                logs[f"{prefix}answer_weight"] = s["answer_weight"] / s["steps"]
            self._sums[mode] = dict.fromkeys(SUMS, 0.0)
        super().log(logs, start_time)
