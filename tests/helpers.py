"""Helpers shared by several test files (fixtures live in ``conftest.py``)."""

from __future__ import annotations

from collections.abc import Sequence

from PIL import Image

from scale_sft.answers import parse_generation, read_gold
from scale_sft.evaluation.scoring import Generation, score_item
from scale_sft.tags import DEFAULT_TAGS, CotTags


def collate_rows(processor, samples, image, padding_side="right"):
    """Collate (question, completion) pairs with one image each; return the batch and, per row, the
    (token, segment id) pairs of its non-padding tokens."""
    from scale_sft.data.format import assistant_message, user_message
    from scale_sft.sft.collator import ScaleSFTCollator

    batch = ScaleSFTCollator(processor=processor, padding_side=padding_side)(
        [{"messages": [user_message(q), assistant_message(a)], "images": [image]} for q, a in samples]
    )
    rows = []
    for ids, seg, mask in zip(batch["input_ids"], batch["segment_ids"], batch["attention_mask"], strict=True):
        tokens = processor.tokenizer.convert_ids_to_tokens(ids[mask.bool()])
        rows.append(list(zip(tokens, seg[mask.bool()].tolist(), strict=True)))
    return batch, rows


def png(path, color):
    """A small solid-colour PNG at ``path`` (parents created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (56, 56), color).save(path)
    return path


def score_text(
    text: str,
    gold: str,
    answer_type: str,
    choices: Sequence[str] | None = None,
    think_tokens: int = 0,
    answer_tokens: int = 0,
    hit_max_new_tokens: bool = False,
    token_ids: Sequence[int] = (),
    tags: CotTags = DEFAULT_TAGS,
) -> dict:
    """``score_item`` on a hand-written generation, called the way the evaluation runner calls it."""
    generation = Generation(text, list(token_ids), think_tokens, answer_tokens, hit_max_new_tokens)
    record = {"answer": gold, "answer_type": answer_type, "choices": choices}
    return score_item(parse_generation(text, tags), read_gold(record), generation, tags)


# Flags that keep a test's `train` / `grpo` run quiet and free of checkpoints.
QUIET = ["--save_strategy", "no", "--report_to", "none", "--disable_tqdm", "true", "--logging_steps", "1"]


def train_cli(model, data, out, *flags) -> None:
    """``scale-sft train`` with batch size 2 and the ``QUIET`` flags, plus ``flags``."""
    from scale_sft.cli import main  # here, not above: the pure-layer tests that import helpers need no TRL

    main(["train", "--model", str(model), "--dataset", str(data), "--output_dir", str(out),
          "--per_device_train_batch_size", "2", *QUIET, *flags])  # fmt: skip
