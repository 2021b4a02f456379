"""What a training run costs, in units that machine load cannot bend.

Wall-clock on a shared machine measures the other jobs as much as the run (the same SFT stage took 740 s
and 293 s), so cost comparisons use counts instead: the tokens that went through the model's forward and
backward passes (the sum of the attention masks of every training micro-batch, over all ranks), and the
process CPU seconds (user + system, every thread, summed over ranks). Wall-clock stays beside them as
information. GRPO adds the tokens it generated (``ScaleGRPOTrainer.generated_tokens``).

Every checkpoint gets the compute spent up to it (``compute.json``, ``CheckpointCompute``), so accuracy can
be plotted against compute along training, not only at its end.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import torch
from transformers import TrainerCallback
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR, get_last_checkpoint

COMPUTE_FILE = "compute.json"


class ComputeMeter(TrainerCallback):
    """Counts the training tokens a trainer reports (``count``) and times its training loop.

    Counts are per process; ``summary`` adds them up over ranks, including the time of a training loop still
    running. A run resumed from a checkpoint continues that checkpoint's counts (``restore``).
    """

    def __init__(self):
        self.tokens = 0
        self.cpu_s = 0.0
        self.wall_s = 0.0
        self._started: tuple[float, float] | None = None

    def count(self, attention_mask: torch.Tensor) -> None:
        """Add one training micro-batch's forward/backward tokens (padding excluded)."""
        self.tokens += int(attention_mask.sum())

    def _elapsed(self) -> tuple[float, float]:
        """CPU and wall seconds of the finished training loops plus the running one."""
        if self._started is None:
            return self.cpu_s, self.wall_s
        cpu, wall = self._started
        return self.cpu_s + time.process_time() - cpu, self.wall_s + time.perf_counter() - wall

    def restore(self, record: dict, main_process: bool) -> None:
        """Continue from a checkpoint's ``compute.json``. Its totals are over all ranks, so they go to the main
        process's counters only and the sum over ranks resumes where it stood."""
        if main_process:
            self.tokens, self.cpu_s = record["train_tokens"], record["cpu_s"]
        self.wall_s = record["wall_s"]

    def on_train_begin(self, args, state, control, **kwargs):
        self._started = (time.process_time(), time.perf_counter())

    def on_train_end(self, args, state, control, **kwargs):
        self.cpu_s, self.wall_s = self._elapsed()
        self._started = None

    def summary(self, accelerator) -> dict:
        """``train_tokens`` and ``cpu_s`` summed over ranks, this rank's ``wall_s``; call it on every rank."""
        cpu_s, wall_s = self._elapsed()
        local = torch.tensor([self.tokens, cpu_s], dtype=torch.float64, device=accelerator.device)
        tokens, cpu_s = accelerator.reduce(local, reduction="sum").tolist()
        return {
            "train_tokens": int(tokens),
            "cpu_s": cpu_s,
            "wall_s": wall_s,
            "processes": accelerator.num_processes,
        }


class CheckpointCompute:
    """Trainer mixin: each checkpoint also holds ``compute.json``, the trainer's ``compute_summary()`` at
    that step (with ``step``), so an evaluation of the checkpoint can be placed on a compute axis; training
    resumed from a checkpoint continues its counts (one from before these records counts from the resume
    point). The trainer provides ``compute_meter`` and ``compute_summary()``; the hooks it overrides and all it
    reads are listed in ``scale_sft.trainer_hooks``."""

    def train(self, resume_from_checkpoint: str | bool | None = None, **kwargs):
        checkpoint = (
            get_last_checkpoint(self.args.output_dir)
            if resume_from_checkpoint is True
            else resume_from_checkpoint
        )
        record = Path(checkpoint, COMPUTE_FILE) if checkpoint else None
        if record is not None and record.is_file():
            self._restore_compute(json.loads(record.read_text()))
        return super().train(resume_from_checkpoint=resume_from_checkpoint, **kwargs)

    def _restore_compute(self, record: dict) -> None:
        self.compute_meter.restore(record, self.is_world_process_zero())

    def _save_checkpoint(self, model, trial) -> None:
        super()._save_checkpoint(model, trial)
        summary = {"step": self.state.global_step, **self.compute_summary()}  # reduces: every rank calls it
        if self.is_world_process_zero():
            folder = Path(self._get_output_dir(trial), f"{PREFIX_CHECKPOINT_DIR}-{self.state.global_step}")
            (folder / COMPUTE_FILE).write_text(json.dumps(summary, indent=2))
