"""The answer-weight curriculum: w(p) moves the loss from the reasoning to the answer as training advances.

``w`` is the weight of the ANSWER segment in ``(1 - w) * L_think + w * L_answer`` (see ``scale_sft.loss``);
``p = global_step / max_steps`` in [0, 1]. The paper gives a cosine schedule from a think-focused start to an
answer-focused end; its exact constants are not public, so ``start``/``end`` are ours (see the README).
"""

from __future__ import annotations

import math

SCHEDULES = ("cosine", "linear", "constant")


def answer_weight(progress: float, schedule: str = "cosine", start: float = 0.2, end: float = 0.8) -> float:
    """Weight of the ANSWER loss at training progress ``progress`` in [0, 1].

    - ``cosine``:   ``end + (start - end) * (1 + cos(pi * p)) / 2`` (flat at both ends, fastest mid-way);
    - ``linear``:   ``start + (end - start) * p``;
    - ``constant``: ``start`` throughout (length-independent weighting without a curriculum).
    """
    if not 0.0 <= progress <= 1.0:
        raise ValueError(f"progress must be in [0, 1], got {progress}.")
    for name, value in (("start", start), ("end", end)):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"answer weight {name} must be in [0, 1], got {value}.")
    if schedule == "cosine":
        return end + (start - end) * (1.0 + math.cos(math.pi * progress)) / 2.0
    if schedule == "linear":
        return start + (end - start) * progress
    if schedule == "constant":
        return start
    raise ValueError(f"Unknown answer-weight schedule {schedule!r}; choose one of {SCHEDULES}.")
