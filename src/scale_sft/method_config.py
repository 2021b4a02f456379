"""What the SFT and GRPO configurations share: the tag strings, malformed-record handling, the image limits,
CPU-safe bf16, what to do with non-finite steps, and the settings checked before anything is loaded (the
output folder itself is claimed by ``scale_sft.run_dir``).

``CotMethodConfig`` is a dataclass mixin placed before TRL's config class
(``class ScaleSFTConfig(CotMethodConfig, SFTConfig)``), so its fields join the command line of both methods
and its ``__post_init__`` runs before TRL's.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from scale_sft.tags import TagArguments

MALFORMED_MODES = ("skip", "error")
NONFINITE_MODES = ("error", "skip")
# Counts that must be whole numbers of at least 1 (a YAML config can hand over 2.7 or 0).
POSITIVE_INTEGERS = (
    "per_device_train_batch_size",
    "per_device_eval_batch_size",
    "gradient_accumulation_steps",
)


@dataclass
class CotMethodConfig(TagArguments):
    r"""Fields shared by [`ScaleSFTConfig`] and [`ScaleGRPOConfig`]: the tag flags of [`TagArguments`]
    (`<think>`, `</think>`, `<answer>`, `</answer>` by default, and the `tags` they make), plus:

    Parameters:
        malformed (`str`, defaults to `"skip"`):
            What to do with a record that cannot be trained on (tags that cannot be split, a missing or
            unreadable image, a sample longer than `max_length`, ...): `"skip"` it and count it by reason in
            the log, or `"error"`: every record is still checked, then the first bad one is named in an error
            before anything trains (`scale_sft.data.skips` lists the reasons).
        nonfinite (`str`, defaults to `"error"`):
            An optimizer step whose loss or gradients are not finite (NaN/inf): `"error"` stops training before
            the update, so no non-finite model is saved; `"skip"` drops that step's update and counts it
            (`nonfinite_steps_skipped` in `run.json`). fp16 runs leave such steps to the loss scaler.
        nonfinite_max_consecutive (`int`, defaults to `10`):
            With `nonfinite="skip"`: stop with an error after this many non-finite steps in a row, since the
            weights are then most likely non-finite themselves (e.g. an infinite learning rate) and every
            further step would be skipped too.
        allow_outside_images (`bool`, defaults to `False`):
            JSON/JSONL data only: also read images given as absolute paths or paths leading out of the data
            file's folder (symlinks followed). Off, such a record is an error naming it, as `convert` refuses
            such images too, so a dataset never reads files it does not hold.
        max_image_pixels (`int` or `None`, defaults to `25_000_000`):
            A record with an image of more pixels (width x height) than this is skipped and counted (`image
            over max_image_pixels`): a 100-megapixel scan costs seconds and gigabytes per step although the
            processor resizes it anyway. `None` lifts the limit (PIL's decompression-bomb limit stays).
        overwrite_output_dir (`bool`, defaults to `False`):
            `output_dir` may hold another run's outputs (`run.json`, weights, `checkpoint-*`) only when resuming
            (`resume_from_checkpoint`) or with this flag, which also removes that run's `checkpoint-*` folders
            and `run.json` once the new run's first step has succeeded, so a later resume cannot continue the
            wrong run and a run that fails to start loses nothing (`scale_sft.run_dir`).
        resume_from_checkpoint (`str` or `None`, defaults to `None`):
            A checkpoint folder, or `true` for the last complete checkpoint of `output_dir`. The checkpoint must
            be complete and saved with the same settings (`scale_sft.run_dir`), or the run stops saying why.
        bf16 (`bool`, defaults to `True` on a GPU that supports it, else `False`):
            Unlike TRL's configs, bf16 is not the default on CPU.
    """

    malformed: str = field(
        default="skip",
        metadata={
            "help": "Records that cannot be trained on: 'skip' (counted by reason) or 'error' (every record is "
            "checked, then the first bad one is named).",
            "choices": list(MALFORMED_MODES),
        },
    )

    nonfinite: str = field(
        default="error",
        metadata={
            "help": "A step with non-finite loss or gradients: 'error' (stop, nothing saved) or 'skip' (counted).",
            "choices": list(NONFINITE_MODES),
        },
    )
    allow_outside_images: bool = field(
        default=False,
        metadata={"help": "Read JSON images from absolute paths or outside the data file's folder."},
    )
    max_image_pixels: int | None = field(
        default=25_000_000,
        metadata={"help": "Skip (counted) records with an image of more pixels than this (null: no limit)."},
    )
    nonfinite_max_consecutive: int = field(
        default=10,
        metadata={"help": "With --nonfinite skip: stop after this many non-finite steps in a row."},
    )
    overwrite_output_dir: bool = field(
        default=False,
        metadata={
            "help": "Write over the outputs of another run in output_dir (its checkpoints are removed)."
        },
    )

    def __post_init__(self):
        # TRL defaults `bf16` to on; keep that only where a GPU supports it, so CPU runs work out of the box.
        if self.bf16 is None:
            self.bf16 = not self.fp16 and torch.cuda.is_available() and torch.cuda.is_bf16_supported()
        super().__post_init__()
        if self.malformed not in MALFORMED_MODES:
            raise ValueError(f"malformed must be one of {MALFORMED_MODES}, got {self.malformed!r}.")
        if self.nonfinite not in NONFINITE_MODES:
            raise ValueError(f"nonfinite must be one of {NONFINITE_MODES}, got {self.nonfinite!r}.")
        self._check_counts()

    def _check_counts(self) -> None:
        """Refuse counts that would fail late, after the model and data are loaded, or train nothing."""
        for name in (*POSITIVE_INTEGERS, "nonfinite_max_consecutive"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a whole number of at least 1, got {value!r}.")
        if self.max_steps == 0 or (self.max_steps < 0 and not self.num_train_epochs > 0):
            raise ValueError(
                f"max_steps={self.max_steps}, num_train_epochs={self.num_train_epochs} trains nothing: set "
                "max_steps to a positive number, or to -1 with a positive num_train_epochs."
            )
        if self.max_image_pixels is not None and not (
            isinstance(self.max_image_pixels, int) and self.max_image_pixels > 0
        ):
            raise ValueError(
                f"max_image_pixels must be a positive whole number or None, got {self.max_image_pixels!r}."
            )
