"""``run.json``: what every ``train`` and ``grpo`` run records beside its model, written once per run.

Each recipe adds its own fields (the loss, the rewards, the data counts) to what ``finish_run`` records for
both: the model started from (path and fingerprint), wall-clock and the compute that machine load cannot bend
(``trainer.compute_summary()``: tokens and process CPU seconds), steps, skipped non-finite steps, the resolved
arguments and the library versions.
"""

from __future__ import annotations

import json
import platform
import time
from dataclasses import asdict
from pathlib import Path

import torch
import transformers
import trl

from scale_sft.models.loading import base_model_record


def library_versions() -> dict[str, str]:
    """The versions a number depends on: the same seed moves under another torch or transformers."""
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "trl": trl.__version__,
    }


def versions_line() -> str:
    """``library_versions`` as the line every written report carries, so its numbers name what made them."""
    v = library_versions()
    return f"Versions: torch {v['torch']}, transformers {v['transformers']}, trl {v['trl']}, Python {v['python']}."


def finish_run(
    trainer, result, started: float, model: str, script_args, model_args, config, **fields
) -> dict:
    """The run's record (``fields`` first, then the common ones); written to ``output_dir/run.json`` by the
    main process. ``compute_summary`` reduces over ranks, so every rank must call this."""
    run = {
        **fields,
        "model": model,
        "base_model": base_model_record(model),
        "dataset": script_args.dataset,
        "wall_clock_s": time.perf_counter() - started,
        "train_runtime_s": result.metrics.get("train_runtime"),
        "compute": trainer.compute_summary(),  # tokens and CPU seconds: cost that machine load cannot bend
        "global_step": trainer.state.global_step,
        "nonfinite_steps_skipped": trainer.nonfinite_steps,
        "train_metrics": result.metrics,
        "script_args": asdict(script_args),
        "model_args": asdict(model_args),
        "config": config.to_dict(),
        "versions": library_versions(),
    }
    if trainer.is_world_process_zero():
        Path(config.output_dir, "run.json").write_text(json.dumps(run, indent=2, default=str))
    return run
