"""The answer-weight curriculum: w(p) moves the loss from the reasoning to the answer as training advances.

``w`` is the weight of the ANSWER segment in ``(1 - w) * L_think + w * L_answer`` (see ``scale_sft.loss``);
``p = global_step / max_steps`` in [0, 1]. The paper gives a cosine schedule from a think-focused start to an
answer-focused end; its exact constants are not public, so ``start``/``end`` are ours (see the README).

Beyond the paper, ``AdaptiveAnswerWeight`` moves ``w`` with the measured THINK loss instead of the step count.
"""

from __future__ import annotations

import math

SCHEDULES = ("cosine", "linear", "constant", "adaptive")


def check_weight_range(start: float, end: float) -> None:
    for name, value in (("start", start), ("end", end)):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"answer weight {name} must be in [0, 1], got {value}.")


def answer_weight(progress: float, schedule: str = "cosine", start: float = 0.2, end: float = 0.8) -> float:
    """Weight of the ANSWER loss at training progress ``progress`` in [0, 1].

    - ``cosine``:   ``end + (start - end) * (1 + cos(pi * p)) / 2`` (flat at both ends, fastest mid-way);
    - ``linear``:   ``start + (end - start) * p``;
    - ``constant``: ``start`` throughout (length-independent weighting without a curriculum).
    """
    if not 0.0 <= progress <= 1.0:
        raise ValueError(f"progress must be in [0, 1], got {progress}.")
    check_weight_range(start, end)
    if schedule == "cosine":
        return end + (start - end) * (1.0 + math.cos(math.pi * progress)) / 2.0
    if schedule == "linear":
        return start + (end - start) * progress
    if schedule == "constant":
        return start
    if schedule == "adaptive":
        raise ValueError(
            "The adaptive weight follows the measured losses, not progress: AdaptiveAnswerWeight."
        )
    raise ValueError(f"Unknown answer-weight schedule {schedule!r}; choose one of {SCHEDULES}.")


class AdaptiveAnswerWeight:
    """``w`` from the share of the THINK loss already learned (beyond the paper; not the default).

    ``w = start + (end - start) * clip(1 - L / L_0, 0, 1)``, where ``L_0`` is the THINK cross-entropy (mean per
    THINK token) of the first optimizer step and ``L`` an exponential moving average of the later steps'
    (``L <- smoothing * L + (1 - smoothing) * L_step``). The weight stays on the reasoning while it is still
    being learned and moves to the answer as the THINK loss falls, whatever the step budget. ``update`` takes
    one optimizer step's THINK CE sum and token count over all its micro-batches and ranks, so the weight is
    the same on every rank and under any gradient-accumulation split; a step without THINK tokens or with a
    non-finite loss changes nothing. ``initial`` and ``smoothed`` are the whole state (the trainer saves them
    with each checkpoint).
    """

    def __init__(self, start: float = 0.2, end: float = 0.8, smoothing: float = 0.9):
        check_weight_range(start, end)
        if not 0.0 <= smoothing < 1.0:
            raise ValueError(f"answer weight smoothing must be in [0, 1), got {smoothing}.")
        self.start, self.end, self.smoothing = start, end, smoothing
        self.initial: float | None = None
        self.smoothed: float | None = None

    def update(self, think_ce_sum: float, think_tokens: float) -> None:
        """Fold in one optimizer step's step-global THINK loss."""
        loss = think_ce_sum / think_tokens if think_tokens > 0 else math.nan
        if not math.isfinite(loss):  # no THINK tokens, or a non-finite step (the trainer reports those)
            return
        if self.initial is None:
            self.initial = self.smoothed = loss
        else:
            self.smoothed = self.smoothing * self.smoothed + (1.0 - self.smoothing) * loss

    @property
    def weight(self) -> float:
        if not self.initial:  # nothing measured yet (or a THINK loss of exactly 0 from the start)
            return self.start
        learned = min(max(1.0 - self.smoothed / self.initial, 0.0), 1.0)
        return self.start + (self.end - self.start) * learned
