"""What the SFT and GRPO configurations share: the tag strings, malformed-record handling, CPU-safe bf16, what
to do with non-finite steps, and the guard against writing over another run's outputs.

``CotMethodConfig`` is a dataclass mixin placed before TRL's config class
(``class ScaleSFTConfig(CotMethodConfig, SFTConfig)``), so its fields join the command line of both methods
and its ``__post_init__`` runs before TRL's.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

import torch

from scale_sft.tags import CotTags

MALFORMED_MODES = ("skip", "error")
NONFINITE_MODES = ("error", "skip")
# What a finished or interrupted run leaves in its output directory (besides `checkpoint-*` folders).
RUN_OUTPUTS = ("run.json", "trainer_state.json", "adapter_config.json", "config.json")


@dataclass
class CotMethodConfig:
    r"""Fields shared by [`ScaleSFTConfig`] and [`ScaleGRPOConfig`].

    Parameters:
        think_start_tag, think_end_tag, answer_start_tag, answer_end_tag (`str`):
            The tag strings, `<think>`, `</think>`, `<answer>`, `</answer>` by default.
        malformed (`str`, defaults to `"skip"`):
            What to do with a record that cannot be trained on (tags that cannot be split, a missing or
            unreadable image, a sample longer than `max_length`, ...): `"skip"` it and count it by reason in
            the log, or `"error"`, naming the record.
        nonfinite (`str`, defaults to `"error"`):
            An optimizer step whose loss or gradients are not finite (NaN/inf): `"error"` stops training before
            the update, so no non-finite model is saved; `"skip"` drops that step's update and counts it
            (`nonfinite_steps_skipped` in `run.json`). fp16 runs leave such steps to the loss scaler.
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
            and `run.json`, so a later resume cannot continue the wrong run.
        bf16 (`bool`, defaults to `True` on a GPU that supports it, else `False`):
            Unlike TRL's configs, bf16 is not the default on CPU.
    """

    think_start_tag: str = field(default="<think>", metadata={"help": "Tag opening the reasoning."})
    think_end_tag: str = field(default="</think>", metadata={"help": "Tag closing the reasoning."})
    answer_start_tag: str = field(default="<answer>", metadata={"help": "Tag opening the answer."})
    answer_end_tag: str = field(default="</answer>", metadata={"help": "Tag closing the answer."})
    malformed: str = field(
        default="skip",
        metadata={
            "help": "Records that cannot be trained on: 'skip' (counted by reason) or 'error'.",
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

    def claim_output_dir(self) -> None:
        """Refuse an `output_dir` that holds another run's outputs, unless resuming or overwriting.

        Called by the recipes before any work. With `overwrite_output_dir` the old run's `checkpoint-*` folders
        and `run.json` are removed (on the main process), so none of them can be mistaken for the new run's.
        """
        out = Path(self.output_dir)
        if self.resume_from_checkpoint or not out.is_dir():
            return
        found = sorted(
            p.name
            for p in out.iterdir()
            if p.name in RUN_OUTPUTS or p.suffix == ".safetensors" or p.name.startswith("checkpoint-")
        )
        if not found:
            return
        if not self.overwrite_output_dir:
            raise FileExistsError(
                f"{out} holds another run's outputs ({', '.join(found[:4])}{', ...' if len(found) > 4 else ''}). "
                "Pass --resume_from_checkpoint to continue that run, --overwrite_output_dir to replace it, or "
                "choose another --output_dir."
            )
        if self.process_index == 0:
            for stale in [*out.glob("checkpoint-*"), out / "run.json"]:
                if stale.is_dir():
                    shutil.rmtree(stale)
                else:
                    stale.unlink(missing_ok=True)

    @property
    def tags(self) -> CotTags:
        return CotTags(self.think_start_tag, self.think_end_tag, self.answer_start_tag, self.answer_end_tag)
