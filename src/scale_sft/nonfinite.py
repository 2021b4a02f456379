"""Stopping, or skipping, optimizer steps whose loss or gradients are not finite.

A learning rate that is too high, or a bad batch, can turn the loss and then every weight into NaN; the
``Trainer`` logs such a loss as 0 (its NaN filter), exits 0 and saves the NaN model. ``NonFiniteGuard`` checks
the step's global gradient norm, which is non-finite whenever the loss or any gradient is, before the
optimizer updates the weights.
"""

from __future__ import annotations

import logging
import math

import torch

logger = logging.getLogger(__name__)


class NonFiniteError(FloatingPointError):
    """Training stopped at a step whose loss or gradients are not finite."""


class NonFiniteGuard:
    """``Trainer`` mixin (listed before the trainer class) acting on ``args.nonfinite``.

    ``"error"``: raise ``NonFiniteError`` before the update, so the weights and every checkpoint stay finite.
    ``"skip"``: drop the step's gradients (the optimizer leaves every weight as it was) and count the step in
    ``nonfinite_steps``; ``args.nonfinite_max_consecutive`` such steps in a row stop training with an error
    (the weights are then most likely non-finite, and every later step would be skipped too). fp16 runs are
    left to the loss scaler, which skips such steps itself. Saving a model whose weights are not finite is
    refused in both modes. The hooks it overrides and what it reads from the trainer are listed in
    ``scale_sft.trainer_hooks``.
    """

    nonfinite_steps: int = 0
    nonfinite_in_a_row: int = 0

    def _get_grad_norm(self, model, grad_norm=None):
        grad_norm = super()._get_grad_norm(model, grad_norm=grad_norm)
        if grad_norm is None or self.accelerator.scaler is not None or math.isfinite(float(grad_norm)):
            self.nonfinite_in_a_row = 0
            return grad_norm
        step = self.state.global_step + 1
        if self.args.nonfinite == "error" or self.is_deepspeed_enabled:
            raise NonFiniteError(
                f"Step {step}: the loss or the gradients are not finite (gradient norm {float(grad_norm)}). "
                "Training stopped before the update; no non-finite weights were saved. Lower the learning "
                "rate or check the data, or pass --nonfinite skip to drop such steps (counted)."
            )
        self.optimizer.zero_grad(set_to_none=True)  # parameters without a gradient are not updated
        self.nonfinite_steps += 1
        self.nonfinite_in_a_row += 1
        if self.nonfinite_in_a_row >= self.args.nonfinite_max_consecutive:
            raise NonFiniteError(
                f"Step {step}: {self.nonfinite_in_a_row} steps in a row had a non-finite loss or gradients "
                f"(nonfinite_max_consecutive={self.args.nonfinite_max_consecutive}); the weights are most "
                "likely not finite any more. Training stopped; lower the learning rate or check the data."
            )
        logger.warning(
            "Step %d: non-finite loss or gradients, update skipped (%d so far).", step, self.nonfinite_steps
        )
        return grad_norm

    def save_model(self, output_dir: str | None = None, _internal_call: bool = False):
        if any(not torch.isfinite(p).all() for p in self.model.parameters()):
            raise NonFiniteError(
                f"The model's weights are not finite; refusing to save them to {output_dir}."
            )
        return super().save_model(output_dir, _internal_call)
