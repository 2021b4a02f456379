"""The output folder of a ``train`` / ``grpo`` run: one run at a time, never two runs mixed.

``claim_output_dir`` runs first in each recipe, before the model or the data are loaded:

- **one run per folder**: the main process takes an exclusive lock on ``output_dir/.scale_sft.lock``
  (``fcntl.flock``) for the whole run; a second run into the same folder stops at once, naming the holder.
  The lock is the operating system's: it goes when the process ends, however it ends (crash, ``kill -9``),
  so a stale lock cannot block a later run; the file itself stays and is harmless. (``flock`` on a network
  file system may not exclude runs on other machines.)
- **another run's outputs** (``run.json``, weights, ``checkpoint-*``) are refused unless resuming or
  ``overwrite_output_dir``; with the latter the old checkpoints and ``run.json`` are removed only once the new
  run's first optimizer step has succeeded, so a run that fails to start loses nothing;
- **resume** (``resume_from_checkpoint``: a checkpoint folder, or ``true`` for the last complete one of
  ``output_dir``) continues the run it names or stops: the checkpoint must be complete
  (``scale_sft.checkpoints``), and the settings that decide what the run computes, saved in each checkpoint
  as ``run_settings.json``, must be the same, or the refusal lists what differs. Settings that only say
  where, how often or how verbosely (``RESUMABLE``) may change.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path

from transformers import TrainerCallback
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

from scale_sft.checkpoints import resolve_checkpoint

logger = logging.getLogger(__name__)

LOCK_FILE = ".scale_sft.lock"
SETTINGS_FILE = "run_settings.json"
# What a finished or interrupted run leaves in its output directory (besides `checkpoint-*` folders).
RUN_OUTPUTS = ("run.json", "trainer_state.json", "adapter_config.json", "config.json")
# Settings a resumed run may change: where and how often it saves, logs and evaluates, and machine details.
RESUMABLE = (
    "output_dir", "resume_from_checkpoint", "overwrite_output_dir", "run_name", "report_to", "disable_tqdm",
    "eval_split", "per_device_eval_batch_size", "dataset_num_proc", "dataloader_num_workers",
    "dataloader_pin_memory", "dataloader_persistent_workers", "dataloader_prefetch_factor", "local_rank",
    "malformed", "nonfinite", "nonfinite_max_consecutive", "allow_outside_images", "trust_remote_code",
)  # fmt: skip
RESUMABLE_PREFIXES = ("logging_", "log_", "save_", "eval_", "hub_", "push_to_hub", "ddp_", "vllm_")


class ResumeMismatchError(ValueError):
    """A resume whose settings differ from the run it would continue."""


def run_settings(script_args, config, model_args) -> dict:
    """Everything the run was started with, as JSON values: the recipe's arguments, config and model config."""
    settings = {**asdict(script_args), **config.to_dict(), **asdict(model_args)}
    return json.loads(json.dumps(settings, default=str))


def _resumable(name: str) -> bool:
    return name in RESUMABLE or name.startswith(RESUMABLE_PREFIXES)


def settings_differences(saved: dict, current: dict) -> list[str]:
    """``name: saved -> current`` for each setting that decides what the run computes and differs."""
    names = sorted(n for n in saved.keys() | current.keys() if not _resumable(n))
    missing = "(not set)"
    return [
        f"{n}: {saved.get(n, missing)!r} -> {current.get(n, missing)!r}"
        for n in names
        if saved.get(n, missing) != current.get(n, missing)
    ]


def check_resume(checkpoint: Path, settings: dict) -> None:
    """Refuse a resume from ``checkpoint`` whose saved settings differ from ``settings``."""
    saved_file = checkpoint / SETTINGS_FILE
    if not saved_file.is_file():
        logger.warning(
            "%s has no %s (an older checkpoint): its settings cannot be compared.", checkpoint, SETTINGS_FILE
        )
        return
    differences = settings_differences(json.loads(saved_file.read_text()), settings)
    if differences:
        raise ResumeMismatchError(
            f"Resuming from {checkpoint} would continue its run with other settings (saved -> now):\n  "
            + "\n  ".join(differences)
            + "\nResume with the same settings, or start a new run in another --output_dir."
        )


class RunClaim(TrainerCallback):
    """The claimed folder, as a callback: it removes the replaced run's outputs after the first successful
    optimizer step and writes the run's settings into every checkpoint."""

    def __init__(self, settings: dict, stale: list[Path]):
        self.settings, self.stale = settings, stale

    def on_step_end(self, args, state, control, **kwargs):
        if self.stale and state.is_world_process_zero:
            for path in self.stale:
                shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
        self.stale = []

    def on_save(self, args, state, control, **kwargs):
        folder = Path(args.output_dir, f"{PREFIX_CHECKPOINT_DIR}-{state.global_step}")
        if state.is_world_process_zero and folder.is_dir():
            (folder / SETTINGS_FILE).write_text(json.dumps(self.settings, indent=2))


def _lock(out: Path):
    """The open, exclusively locked lock file of ``out``; raises naming the holder when another run has it."""
    out.mkdir(parents=True, exist_ok=True)
    handle = open(out / LOCK_FILE, "a+")  # noqa: SIM115 (held open for the run)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        raise FileExistsError(
            f"{out} is in use by another run ({holder}); choose another --output_dir."
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"pid {os.getpid()} on {os.uname().nodename}\n")
    handle.flush()
    return handle


def _previous_outputs(out: Path, overwrite: bool) -> list[Path]:
    """The outputs of another run in ``out`` that ``overwrite`` replaces; refused without it."""
    if not out.is_dir():
        return []
    found = sorted(
        p.name
        for p in out.iterdir()
        if p.name in RUN_OUTPUTS
        or p.suffix == ".safetensors"
        or p.name.startswith(f"{PREFIX_CHECKPOINT_DIR}-")
    )
    if found and not overwrite:
        raise FileExistsError(
            f"{out} holds another run's outputs ({', '.join(found[:4])}{', ...' if len(found) > 4 else ''}). "
            "Pass --resume_from_checkpoint to continue that run, --overwrite_output_dir to replace it, or "
            "choose another --output_dir."
        )
    return [
        *out.glob(f"{PREFIX_CHECKPOINT_DIR}-*"),
        *([out / "run.json"] if (out / "run.json").exists() else []),
    ]


@contextmanager
def claim_output_dir(config, settings: dict) -> Iterator[RunClaim]:
    """Claim ``config.output_dir`` for this run (module docstring) until the ``with`` block ends; a resume sets
    ``config.resume_from_checkpoint`` to the checked checkpoint folder."""
    out = Path(config.output_dir)
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"--output_dir {out} is a file, not a folder.")
    checkpoint = resolve_checkpoint(config.resume_from_checkpoint, out)
    config.resume_from_checkpoint = None if checkpoint is None else str(checkpoint)  # `false` is no path
    if checkpoint is not None:
        check_resume(checkpoint, settings)
    else:  # refused here, nothing is written; checked again under the lock, which another run may have taken
        _previous_outputs(out, config.overwrite_output_dir)
    handle = _lock(out) if config.process_index == 0 else None
    try:
        stale = [] if checkpoint is not None else _previous_outputs(out, config.overwrite_output_dir)
        yield RunClaim(settings, stale)
    finally:
        if handle is not None:
            handle.close()  # releases the lock
