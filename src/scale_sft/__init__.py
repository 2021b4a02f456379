"""SCALe-SFT: Scheduled Curriculum Adaptive Loss for chain-of-thought VLM fine-tuning.

The public API: ``answer_weight`` (the schedule), ``scale_loss`` (the loss), ``segment_ids_from_offsets``
and ``answer_start`` (segment labelling), ``ScaleSFTConfig`` and ``ScaleSFTTrainer`` (training).
"""

from scale_sft.loss import scale_loss
from scale_sft.schedules import answer_weight
from scale_sft.segments import ANSWER, IGNORE, THINK, answer_start, segment_ids_from_offsets

__version__ = "0.1.0"

__all__ = [
    "ANSWER",
    "IGNORE",
    "THINK",
    "ScaleSFTConfig",
    "ScaleSFTTrainer",
    "answer_start",
    "answer_weight",
    "scale_loss",
    "segment_ids_from_offsets",
]


def __getattr__(name: str):
    # The trainer pulls in TRL and transformers; import it only when asked for.
    if name == "ScaleSFTConfig":
        from scale_sft.sft.sft_config import ScaleSFTConfig

        return ScaleSFTConfig
    if name == "ScaleSFTTrainer":
        from scale_sft.sft.sft_trainer import ScaleSFTTrainer

        return ScaleSFTTrainer
    raise AttributeError(name)
