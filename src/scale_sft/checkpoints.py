"""Checkpoints that can be trusted, and saves that say why they failed.

A checkpoint is complete when its ``trainer_state.json`` (which ``Trainer`` writes after the weights and the
optimizer) reads as JSON, its ``.safetensors`` files are as long as their headers say, and its torch files
(``optimizer.pt``, ``scheduler.pt``, ``rng_state*.pth``) are whole zip archives. A resume from an incomplete
one is refused naming the damaged file and the last complete checkpoint; ``"true"`` resumes from the last
complete one.

``SaveGuard`` (a ``Trainer`` mixin) turns a save that fails for lack of disk space (an ``ENOSPC`` error, or
torch's C++ "unexpected pos" / "file write failed") into a ``DiskSpaceError`` that says so and names the last
complete checkpoint, and refuses to start training when the disk cannot hold one checkpoint and the final
model (estimated from the parameter count).
"""

from __future__ import annotations

import errno
import json
import logging
import shutil
import struct
import zipfile
from pathlib import Path

from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

logger = logging.getLogger(__name__)

TORCH_FILES = ("optimizer.pt", "scheduler.pt", "scaler.pt", "rng_state*.pth")
DISK_FULL_MARKERS = ("unexpected pos", "file write failed", "no space left")
ADAM_BYTES_PER_PARAMETER = 8  # two fp32 moments per trainable parameter


class DiskSpaceError(OSError):
    """A save failed, or would fail, for lack of disk space."""


class CheckpointError(ValueError):
    """A checkpoint that cannot be resumed from."""


def _safetensors_problem(path: Path) -> str | None:
    try:
        with path.open("rb") as handle:
            (header_length,) = struct.unpack("<Q", handle.read(8))
            header = json.loads(handle.read(header_length))
    except (struct.error, ValueError, UnicodeDecodeError):
        return f"{path.name} has no readable header"
    end = max((t["data_offsets"][1] for k, t in header.items() if k != "__metadata__"), default=0)
    size = path.stat().st_size
    if size != 8 + header_length + end:
        return f"{path.name} is {size} bytes, its header says {8 + header_length + end}"
    return None


def checkpoint_problem(folder: Path) -> str | None:
    """Why ``folder`` is not a complete checkpoint (module docstring), or None."""
    if not folder.is_dir():
        return f"{folder} is not a folder"
    try:
        json.loads((folder / "trainer_state.json").read_text())["global_step"]
    except FileNotFoundError:
        return "trainer_state.json is missing (the save was interrupted)"
    except (ValueError, KeyError, TypeError):
        return "trainer_state.json is not a complete trainer state"
    weights = sorted(folder.glob("*.safetensors"))
    if not weights:
        return "it holds no .safetensors weights"
    for path in weights:
        problem = _safetensors_problem(path)
        if problem:
            return problem
    for path in (p for pattern in TORCH_FILES for p in sorted(folder.glob(pattern))):
        if not zipfile.is_zipfile(path):
            return f"{path.name} is truncated or not a torch file"
    return None


def _step(folder: Path) -> int:
    return int(folder.name.rsplit("-", 1)[1])


def checkpoints(output_dir: Path) -> list[Path]:
    """The ``checkpoint-N`` folders of ``output_dir``, last step first."""
    if not output_dir.is_dir():
        return []
    found = [p for p in output_dir.glob(f"{PREFIX_CHECKPOINT_DIR}-*") if p.is_dir() and p.name[11:].isdigit()]
    return sorted(found, key=_step, reverse=True)


def last_complete_checkpoint(output_dir: Path, before: int | None = None) -> Path | None:
    """The complete checkpoint of ``output_dir`` with the highest step (below ``before``), or None; incomplete
    ones passed over are logged."""
    for folder in checkpoints(output_dir):
        if before is not None and _step(folder) >= before:
            continue
        problem = checkpoint_problem(folder)
        if problem is None:
            return folder
        logger.warning("Passing over %s: %s.", folder, problem)
    return None


def resolve_checkpoint(value: str | bool | None, output_dir: Path) -> Path | None:
    """The checkpoint ``resume_from_checkpoint`` names, checked complete: a path, or ``true`` / ``last`` for the
    last complete checkpoint of ``output_dir``. Raises ``CheckpointError`` naming the problem and the last
    complete checkpoint."""
    if value is None or value is False or (isinstance(value, str) and value.lower() in ("", "false", "none")):
        return None
    if value is True or value.lower() in ("true", "last"):
        found = last_complete_checkpoint(output_dir)
        if found is None:
            raise CheckpointError(f"No complete checkpoint in {output_dir} to resume from.")
        return found
    folder = Path(value)
    problem = checkpoint_problem(folder)
    if problem is None:
        return folder
    good = last_complete_checkpoint(folder.parent, _step(folder) if folder.name[11:].isdigit() else None)
    hint = f"the last complete checkpoint is {good}" if good else "there is no complete checkpoint before it"
    raise CheckpointError(f"Cannot resume from {folder}: {problem}; {hint}.")


def is_disk_full(err: BaseException, folder: Path) -> bool:
    """Whether a failed save ran out of disk space: its errno or message says so, or almost nothing is free."""
    if isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    if any(marker in str(err).lower() for marker in DISK_FULL_MARKERS):
        return True
    return free_bytes(folder) < 2**26


def free_bytes(folder: Path) -> int:
    """Free space on the disk that holds ``folder`` (or its nearest existing parent)."""
    folder = folder.absolute()
    while not folder.exists():
        folder = folder.parent
    return shutil.disk_usage(folder).free


def _gib(n: float) -> str:
    return f"{n / 2**30:.2f} GiB"


class SaveGuard:
    """``Trainer`` mixin: a free-space check before training and a clear ``DiskSpaceError`` when a save fails
    for lack of space (module docstring)."""

    def required_disk_bytes(self) -> int:
        """What one checkpoint (saved weights and Adam's two moments) and the final model take, at least."""
        params = list(self.model.parameters())
        trainable = [p for p in params if p.requires_grad]
        saved = trainable if hasattr(self.model, "peft_config") else params
        weights = sum(p.numel() * p.element_size() for p in saved)
        if self.args.save_strategy == "no":
            return weights
        optimizer = (
            0 if self.args.save_only_model else ADAM_BYTES_PER_PARAMETER * sum(p.numel() for p in trainable)
        )
        return 2 * weights + optimizer

    def train(self, *args, **kwargs):
        needed, free = self.required_disk_bytes(), free_bytes(Path(self.args.output_dir))
        if free < needed:  # every rank checks the disk it sees, so all stop together on a shared one
            raise DiskSpaceError(
                f"{self.args.output_dir} has {_gib(free)} free; a checkpoint and the final model of this "
                f"model need at least {_gib(needed)}. Free some space or choose another --output_dir."
            )
        return super().train(*args, **kwargs)

    def _disk_error(self, what: Path, err: BaseException) -> DiskSpaceError:
        good = last_complete_checkpoint(Path(self.args.output_dir))
        hint = f"the last complete checkpoint is {good}" if good else "no complete checkpoint was saved"
        return DiskSpaceError(
            f"Saving {what} failed: the disk is full ({_gib(free_bytes(what))} free; {type(err).__name__}: {err}). "
            f"{hint[0].upper()}{hint[1:]}; free some space and resume with --resume_from_checkpoint true."
        )

    def _save_checkpoint(self, model, trial) -> None:
        folder = Path(self._get_output_dir(trial), f"{PREFIX_CHECKPOINT_DIR}-{self.state.global_step}")
        try:
            super()._save_checkpoint(model, trial)
        except DiskSpaceError:  # from ``save_model`` inside
            raise
        except (OSError, RuntimeError) as err:
            if is_disk_full(err, folder):
                raise self._disk_error(folder, err) from err
            raise

    def save_model(self, output_dir: str | None = None, _internal_call: bool = False):
        try:
            return super().save_model(output_dir, _internal_call)
        except (OSError, RuntimeError) as err:
            folder = Path(output_dir or self.args.output_dir)
            if is_disk_full(err, folder):
                raise self._disk_error(folder, err) from err
            raise
