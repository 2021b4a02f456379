"""The adaptive answer weight inside ``Trainer``: step-global updates, saved and restored with checkpoints."""

from __future__ import annotations

from transformers import TrainerCallback
from transformers.trainer_callback import ExportableState

from scale_sft.schedules import AdaptiveAnswerWeight


class AdaptiveWeightCallback(AdaptiveAnswerWeight, TrainerCallback, ExportableState):
    """``AdaptiveAnswerWeight`` updated once per optimizer step.

    ``ScaleSFTTrainer.compute_loss`` passes each training micro-batch's THINK CE sum and token count, already
    summed over ranks, to ``observe``; ``on_step_end`` folds the step's totals in, so every micro-batch of a
    step trains with the same ``weight`` and every rank computes the same one. The state goes into
    ``trainer_state.json`` (``stateful_callbacks``) with each checkpoint and comes back in ``on_train_begin``
    when training resumes from one (whatever ``restore_callback_states_from_checkpoint`` says).
    """

    def __init__(self, start: float = 0.2, end: float = 0.8, smoothing: float = 0.9):
        super().__init__(start, end, smoothing)
        self._pending = [0.0, 0.0]

    def observe(self, think_ce_sum: float, think_tokens: float) -> None:
        self._pending[0] += think_ce_sum
        self._pending[1] += think_tokens

    def on_train_begin(self, args, state, control, **kwargs):
        saved = (state.stateful_callbacks or {}).get(type(self).__name__)
        if isinstance(saved, dict):
            for key, value in saved["attributes"].items():
                setattr(self, key, value)
        self._pending = [0.0, 0.0]

    def on_step_end(self, args, state, control, **kwargs):
        self.update(*self._pending)
        self._pending = [0.0, 0.0]

    def state(self) -> dict:
        return {
            "args": {"start": self.start, "end": self.end, "smoothing": self.smoothing},
            "attributes": {"initial": self.initial, "smoothed": self.smoothed},
        }
