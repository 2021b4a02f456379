"""``ScaleGRPOTrainer``: TRL's ``GRPOTrainer`` that also counts what it computes.

The paper's cost claim (SCALe-SFT alone at about a seventh of SFT + GRPO's training time) is measured here,
not estimated: the run records every generated completion token, the tokens of its policy forward/backward
passes and its CPU seconds (``scale_sft.compute``) beside the wall-clock.
"""

from __future__ import annotations

import torch
from trl import GRPOTrainer

from scale_sft.checkpoints import SaveGuard
from scale_sft.compute import CheckpointCompute, ComputeMeter
from scale_sft.nonfinite import NonFiniteGuard


class ScaleGRPOTrainer(CheckpointCompute, SaveGuard, NonFiniteGuard, GRPOTrainer):
    """``GRPOTrainer`` with a ``generated_tokens`` counter over all ranks and a ``ComputeMeter``; a non-finite
    step stops (or is skipped, counted) as in SFT (``NonFiniteGuard``); every checkpoint holds its compute so far
    (``CheckpointCompute``); disk space is checked before training and a full disk named (``SaveGuard``)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.generated_tokens = 0
        self.compute_meter = ComputeMeter()
        self.add_callback(self.compute_meter)

    def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
        if self.model.training:
            local = torch.tensor(sum(len(ids) for ids in completion_ids_list), device=self.accelerator.device)
            self.generated_tokens += int(self.accelerator.gather(local).sum())
        return super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        if model.training:  # the policy-gradient pass: prompt and completion tokens, forward and backward
            self.compute_meter.count(inputs["prompt_mask"])
            self.compute_meter.count(inputs["completion_mask"])
        return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)

    def _restore_compute(self, record: dict) -> None:
        super()._restore_compute(record)
        self.generated_tokens = record["generated_tokens"]  # already a total over ranks on every rank

    def compute_summary(self) -> dict:
        """The run's ``compute`` entry: ``ComputeMeter.summary`` plus ``generated_tokens``; call on every rank."""
        return {**self.compute_meter.summary(self.accelerator), "generated_tokens": self.generated_tokens}
