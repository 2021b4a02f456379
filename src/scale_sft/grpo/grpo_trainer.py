"""``ScaleGRPOTrainer``: TRL's ``GRPOTrainer`` that also counts the tokens it generates.

The paper's cost claim (SCALe-SFT alone at about a seventh of SFT + GRPO's training time) is measured here,
not estimated: the run records its wall-clock and every generated completion token.
"""

from __future__ import annotations

import torch
from trl import GRPOTrainer

from scale_sft.nonfinite import NonFiniteGuard


class ScaleGRPOTrainer(NonFiniteGuard, GRPOTrainer):
    """``GRPOTrainer`` with a ``generated_tokens`` counter over all ranks; a non-finite step stops (or is
    skipped, counted) as in SFT (``NonFiniteGuard``)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.generated_tokens = 0

    def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
        if self.model.training:
            local = torch.tensor(sum(len(ids) for ids in completion_ids_list), device=self.accelerator.device)
            self.generated_tokens += int(self.accelerator.gather(local).sum())
        return super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)
