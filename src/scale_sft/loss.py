"""The SCALe loss and the vanilla SFT loss, both as per-token weights times per-token cross-entropy.

SCALe (our reading of the paper, see the README), for sample ``i`` of an optimizer step of ``N`` samples::

    L_think_i  = mean CE over the THINK tokens of sample i
    L_answer_i = mean CE over the ANSWER tokens of sample i
    L_i        = (1 - w) * L_think_i + w * L_answer_i      (L_answer_i alone when the sample has no THINK)
    L          = (1 / N) * sum_i L_i

so each segment counts by its weight, not by its length (``segment_normalization="sample"``). The other
reading, ``"step"``, takes each segment's token mean over the whole optimizer step::

    L = (1 - w) * sum(CE_think) / N_think + w * sum(CE_answer) / N_answer   (ANSWER mean alone if N_think = 0)

which weighs every THINK token of the step alike, where the per-sample reading gives a long trace's tokens
less weight than a short trace's. Vanilla SFT is the token mean over THINK and ANSWER tokens together.
All are ``sum_t weight_t * CE_t / normalizer``: the weights depend only on one sample's segment ids (per
sample) or on the step's segment counts (per step), and the normalizer (samples for SCALe, tokens for vanilla,
THINK and ANSWER tokens for per-step SCALe) is counted over the whole optimizer step, so the gradient does not
depend on how the step is split into micro-batches or ranks.
Per-token CE can come from a fused LM head that never builds the vocabulary logits.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from scale_sft.segments import ANSWER, THINK

LOSS_METHODS = ("scale", "vanilla")
SEGMENT_NORMALIZATIONS = ("sample", "step")


def _check_method(method: str, segment_normalization: str = "sample") -> None:
    if method not in LOSS_METHODS:
        raise ValueError(f"Unknown loss method {method!r}; choose one of {LOSS_METHODS}.")
    if segment_normalization not in SEGMENT_NORMALIZATIONS:
        raise ValueError(
            f"Unknown segment normalization {segment_normalization!r}; choose one of {SEGMENT_NORMALIZATIONS}."
        )


def _per_step(method: str, segment_normalization: str) -> bool:
    """Whether the segments are normalised per optimizer step (vanilla has no segments to normalise)."""
    _check_method(method, segment_normalization)
    return method == "scale" and segment_normalization == "step"


def _answer_weight(has_think: torch.Tensor, answer_weight: float) -> torch.Tensor:
    """``w`` where there is THINK to mix with, else 1: a direct answer is trained on its answer alone."""
    return torch.where(has_think, answer_weight, 1.0)


def token_weights(segment_ids: torch.Tensor, method: str, answer_weight: float) -> torch.Tensor:
    """Per-token loss weights (before dividing by the step's normalizer), shape of ``segment_ids``.

    SCALe: ``(1 - w) / n_think_i`` on THINK tokens and ``w / n_answer_i`` on ANSWER tokens (``1 / n_answer_i``
    for a direct answer), so every sample's weights sum to 1. Vanilla: 1 on every supervised token.
    """
    _check_method(method)
    think, answer = segment_ids == THINK, segment_ids == ANSWER
    if method == "vanilla":
        return (think | answer).float()
    n_think = think.sum(dim=-1, keepdim=True)
    n_answer = answer.sum(dim=-1, keepdim=True)
    has_think = n_think > 0
    think_w = torch.where(has_think, (1.0 - answer_weight) / n_think.clamp(min=1), 0.0)
    answer_w = _answer_weight(has_think, answer_weight) / n_answer.clamp(min=1)
    return think * think_w + answer * answer_w


def step_token_weights(
    segment_ids: torch.Tensor, answer_weight: float, step_counts: torch.Tensor
) -> torch.Tensor:
    """Per-step SCALe's per-token weights, already divided by the step's counts: ``(1 - w) / N_think`` on THINK
    and ``w / N_answer`` on ANSWER tokens (``1 / N_answer`` when the step has no THINK token at all), so the
    whole step's weights sum to 1. ``step_counts`` is ``loss_normalizer(..., "step")`` summed over the step.
    """
    counts = torch.as_tensor(step_counts, device=segment_ids.device)
    n_think, n_answer = counts.clamp(min=1).unbind()
    answer_w = _answer_weight(counts[0] > 0, answer_weight)
    think, answer = segment_ids == THINK, segment_ids == ANSWER
    return think * ((1.0 - answer_weight) / n_think) + answer * (answer_w / n_answer)


def loss_normalizer(
    segment_ids: torch.Tensor, method: str, segment_normalization: str = "sample"
) -> torch.Tensor:
    """What the weighted sum is divided by: supervised samples (SCALe per sample) or supervised tokens
    (vanilla); for SCALe per step, the pair (THINK tokens, ANSWER tokens) each segment's sum is divided by.

    Summed over every micro-batch and rank of an optimizer step, it makes the loss that step's mean.
    """
    supervised = segment_ids > 0
    if _per_step(method, segment_normalization):
        return torch.stack([(segment_ids == THINK).sum(), (segment_ids == ANSWER).sum()])
    if method == "vanilla":
        return supervised.sum()
    return supervised.any(dim=-1).sum()


@dataclass
class LossOutput:
    """The loss and detached per-segment sums for logging (identical for both methods).

    ``answer_share_sum`` / ``weight_sum`` is the share of the loss weight that falls on ANSWER tokens: the
    quantity the paper is about (vanilla: the ANSWER token share; SCALe: ``w``, or 1 for direct answers; per-step
    SCALe: ``w``, or 1 for a step without THINK).
    """

    loss: torch.Tensor
    think_ce_sum: torch.Tensor
    think_tokens: torch.Tensor
    answer_ce_sum: torch.Tensor
    answer_tokens: torch.Tensor
    answer_share_sum: torch.Tensor
    weight_sum: torch.Tensor

    def sums(self) -> dict[str, torch.Tensor]:
        """The logging sums by name, to be added up over micro-batches and ranks."""
        return {
            "think_ce": self.think_ce_sum,
            "think_tokens": self.think_tokens,
            "answer_ce": self.answer_ce_sum,
            "answer_tokens": self.answer_tokens,
            "answer_share": self.answer_share_sum,
            "weight": self.weight_sum,
        }


def scale_loss(
    per_token_ce: torch.Tensor,
    segment_ids: torch.Tensor,
    method: str = "scale",
    answer_weight: float = 0.5,
    normalizer: torch.Tensor | float | None = None,
    segment_normalization: str = "sample",
) -> LossOutput:
    """SCALe or vanilla loss from per-token cross-entropy aligned with ``segment_ids``.

    Args:
        per_token_ce: (batch, seq) cross-entropy of each token's label (any value where ``segment_ids == 0``).
        segment_ids: (batch, seq) 0 = no loss, 1 = THINK, 2 = ANSWER, aligned with ``per_token_ce``.
        method: ``"scale"`` or ``"vanilla"``.
        answer_weight: ``w`` of the SCALe mix (ignored by vanilla).
        normalizer: ``loss_normalizer`` summed over the whole optimizer step; defaults to this batch's, which
            makes the result this batch's mean. Pass the step's when the step spans several micro-batches.
        segment_normalization: SCALe's segment means per ``"sample"`` or per ``"step"`` (ignored by vanilla).
    """
    supervised = segment_ids > 0
    ce = torch.where(supervised, per_token_ce, torch.zeros_like(per_token_ce))  # no NaN/inf from ignored
    if normalizer is None:
        normalizer = loss_normalizer(segment_ids, method, segment_normalization)
    if _per_step(method, segment_normalization):
        weights, divisor = step_token_weights(segment_ids, answer_weight, normalizer), 1
    else:
        weights, divisor = token_weights(segment_ids, method, answer_weight), normalizer
    loss = (weights.to(ce.dtype) * ce).sum() / torch.as_tensor(divisor, device=ce.device).clamp(min=1)
    think, answer = segment_ids == THINK, segment_ids == ANSWER
    detached = ce.detach().float()
    return LossOutput(
        loss=loss,
        think_ce_sum=(detached * think).sum(),
        think_tokens=think.sum(),
        answer_ce_sum=(detached * answer).sum(),
        answer_tokens=answer.sum(),
        answer_share_sum=(weights * answer).sum(),
        weight_sum=weights.sum(),
    )
