"""Checking records before training: every record that would train wrongly is removed and counted.

``prepare_dataset`` decides, before any training or generation, whether each record can be trained on, and
counts each one it removes under its reason (``scale_sft.data.skips.SkipReason``; ``docs/DATA.md`` says what
each means). With ``malformed="error"`` every record is still checked first, then the first bad one (in
dataset order) raises ``DataError`` naming its index, id and reason. Images of 16 bits or more are re-encoded
as 8-bit RGB (``scale_sft.data.images.to_rgb``), so no processor clips them.

At scale: the check reads each image once at reduced scale and counts its tokens from its size by the
processor's own rules (``scale_sft.data.image_tokens``; the full processor runs only where those rules are not
known), in ``num_proc`` processes through ``datasets.Dataset.map``, which caches the result by fingerprint: a
second run on the same stored data, processor and settings reads it back. Every kept record gets its token
count in a ``length`` column, so ``train_sampling_strategy="group_by_length"`` works for vision data.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass

import datasets
from jinja2 import TemplateError
from PIL import Image

from scale_sft.data.format import is_text_only, message_text, render_sample
from scale_sft.data.image_tokens import expanded_length, read_image
from scale_sft.data.images import HIGH_DEPTH_MODES, NotARegularFileError, open_rgb, png_bytes
from scale_sft.data.loading import DataError, DataReport
from scale_sft.data.skips import SkipReason
from scale_sft.segments import MalformedSampleError
from scale_sft.tags import DEFAULT_TAGS, CotTags

logger = logging.getLogger(__name__)

ROLES = ("system", "user", "assistant")
PROCESSOR_TOKEN_ATTRIBUTES = ("image_token", "boi_token", "eoi_token", "video_token")


CHECK_FEATURES = datasets.Features(
    {
        "skip_reason": datasets.Value("string"),
        "length": datasets.Value("int64"),
        "direct_answer": datasets.Value("bool"),
        "high_depth": datasets.Value("bool"),
    }
)


@dataclass
class Verdict:
    """The outcome of checking one record: ``reason`` to skip it (None keeps it) and its token length (the
    processor's ``input_ids`` of the rendered record, no special tokens added; None when it was not reached)."""

    reason: str | None = None
    length: int | None = None
    direct_answer: bool = False
    high_depth: bool = False  # an image that must be re-encoded as 8-bit RGB


def special_token_pattern(processor, tags: CotTags = DEFAULT_TAGS) -> re.Pattern | None:
    """A pattern matching any special token of the processor written as text, the tags excepted."""
    tokenizer = getattr(processor, "tokenizer", processor)
    tokens = set(tokenizer.all_special_tokens)
    tokens |= {t.content for t in tokenizer.added_tokens_decoder.values() if t.special}
    tokens |= {getattr(processor, name, None) for name in PROCESSOR_TOKEN_ATTRIBUTES}
    tokens = {t for t in tokens if isinstance(t, str) and t.strip()} - set(tags.as_list())
    if not tokens:
        return None
    # longest first, ties by text: the same pattern in every process, so the check's cache fingerprint is too
    return re.compile("|".join(re.escape(t) for t in sorted(tokens, key=lambda t: (-len(t), t))))


def _part_ok(part) -> bool:
    if not isinstance(part, dict):
        return False
    if part.get("type") == "text":
        return isinstance(part.get("text"), str)
    return part.get("type") == "image"


def _has_image(message: dict) -> bool:
    content = message["content"]
    return not isinstance(content, str) and any(part["type"] == "image" for part in content)


def _texts(message: dict) -> list[str]:
    content = message["content"]
    return [content] if isinstance(content, str) else [p["text"] for p in content if p["type"] == "text"]


def _message_problem(messages, special_tokens: re.Pattern | None) -> str | None:
    """The reason the conversation cannot be trained on, or None."""
    if not isinstance(messages, list) or not all(
        isinstance(m, dict) and m.get("role") in ROLES and "content" in m for m in messages
    ):
        return SkipReason.INVALID_MESSAGE.value
    for message in messages:
        content = message["content"]
        if not isinstance(content, str) and not (isinstance(content, list) and all(map(_part_ok, content))):
            return SkipReason.INVALID_MESSAGE_CONTENT.value
    if not messages or messages[-1]["role"] != "assistant":
        return SkipReason.NO_ASSISTANT_TARGET.value
    if any(_has_image(m) for m in messages if m["role"] != "user"):
        return SkipReason.IMAGE_OUTSIDE_USER_TURN.value
    if not message_text(messages[-1]).strip():
        return SkipReason.EMPTY_TARGET.value
    if special_tokens and any(special_tokens.search(t) for m in messages for t in _texts(m)):
        return SkipReason.SPECIAL_TOKEN_IN_TEXT.value
    return None


def _read_images(images, max_pixels: int | None = None) -> tuple[list, list, str | None, bool]:
    """The images (as given), their sizes, the reason they cannot be used (or None), and whether any is
    high-depth. An image is a path, an undecoded ``{"bytes", "path"}`` value or a PIL image; one of more
    than ``max_pixels`` pixels is refused."""
    if images is None:
        return [], [], None, False
    valid = (str, dict, Image.Image)
    if not isinstance(images, list) or not all(isinstance(i, valid) for i in images):
        return [], [], SkipReason.INVALID_IMAGE_ENTRY.value, False
    sizes, high_depth = [], False
    for image in images:
        try:
            size, mode = read_image(image)
        except FileNotFoundError:
            return [], [], SkipReason.MISSING_IMAGE.value, False
        except Image.DecompressionBombError:
            return [], [], SkipReason.DECOMPRESSION_BOMB.value, False
        except NotARegularFileError:
            return [], [], SkipReason.IMAGE_NOT_REGULAR_FILE.value, False
        except (OSError, KeyError, TypeError):  # KeyError/TypeError: a dict that is not an image value
            return [], [], SkipReason.UNREADABLE_IMAGE.value, False
        if max_pixels is not None and size[0] * size[1] > max_pixels:
            return [], [], SkipReason.IMAGE_OVER_MAX_PIXELS.value, False
        sizes.append(size)
        high_depth |= mode in HIGH_DEPTH_MODES
    return images, sizes, None, high_depth


def _token_length(processor, text: str, images: list, sizes: list) -> int:
    """The record's token length: from the image sizes, or from the full processor where the size rules of
    this processor are not known."""
    length = expanded_length(processor, text, sizes)
    if length is None:
        decoded = [open_rgb(i["bytes"] or i["path"]) if isinstance(i, dict) else open_rgb(i) for i in images]
        length = len(processor(images=decoded or None, text=[text], add_special_tokens=False)["input_ids"][0])
    return length


def _render(
    record: dict, images: list, sizes: list, processor, tags: CotTags, max_length: int | None
) -> Verdict:
    """Render and measure the record as the collator will."""
    try:
        text, spans = render_sample(processor, record["messages"], tags)
    except MalformedSampleError as err:
        return Verdict(SkipReason.MALFORMED.detailed(err))
    except (TemplateError, ValueError) as err:
        return Verdict(SkipReason.CHAT_TEMPLATE_ERROR.detailed(err))
    try:
        length = _token_length(processor, text, images, sizes)
    except ValueError as err:
        return Verdict(SkipReason.PROCESSOR_ERROR.detailed(err))
    if max_length is not None and length > max_length:
        return Verdict(SkipReason.LONGER_THAN_MAX_LENGTH.value, length)
    return Verdict(None, length, spans.answer_from_end == spans.completion_from_end)


def check_record(
    record: dict,
    processor,
    tags: CotTags = DEFAULT_TAGS,
    max_length: int | None = None,
    special_tokens: re.Pattern | None = None,
    check: Callable[[dict], str | None] | None = None,
    max_image_pixels: int | None = None,
) -> Verdict:
    """Every record check, for one record (images as paths, undecoded values or PIL images)."""
    messages = record.get("messages")
    reason = _message_problem(messages, special_tokens)
    if reason:
        return Verdict(reason)
    images, sizes, reason, high_depth = _read_images(record.get("images"), max_image_pixels)
    if reason:
        return Verdict(reason)
    n_placeholders = sum(p["type"] == "image" for m in messages if _has_image(m) for p in m["content"])
    if n_placeholders != len(images):
        return Verdict(SkipReason.IMAGE_COUNT_MISMATCH.value)
    if images and is_text_only(processor):
        return Verdict(SkipReason.IMAGES_FOR_TEXT_ONLY_MODEL.value)
    verdict = _render(record, images, sizes, processor, tags, max_length)
    verdict.high_depth = high_depth
    if verdict.reason is None and check is not None:
        verdict.reason = check(record)
    return verdict


def _check_batch(batch, **kwargs) -> dict:
    """``check_record`` over an Arrow batch, whose images are still undecoded ``{"bytes", "path"}`` values."""
    verdicts = [check_record(record, **kwargs) for record in batch.to_pylist()]
    return {
        "skip_reason": [v.reason for v in verdicts],
        "length": [v.length for v in verdicts],
        "direct_answer": [v.direct_answer for v in verdicts],
        "high_depth": [v.high_depth for v in verdicts],
    }


def check_dataset(
    dataset: datasets.Dataset,
    processor,
    tags: CotTags = DEFAULT_TAGS,
    max_length: int | None = None,
    check: Callable[[dict], str | None] | None = None,
    num_proc: int | None = None,
    load_from_cache_file: bool | None = None,
    max_image_pixels: int | None = None,
) -> datasets.Dataset:
    """``check_record`` for every record in ``num_proc`` processes: one row of ``CHECK_FEATURES`` per record.

    Records are read as Arrow batches, so images reach the check undecoded and nothing is rewritten but the
    result columns; ``datasets`` caches the result beside the dataset's own cache files, when it has any.
    """
    kwargs = {
        "processor": processor,
        "tags": tags,
        "max_length": max_length,
        "special_tokens": special_token_pattern(processor, tags),
        "check": check,
        "max_image_pixels": max_image_pixels,
    }
    return (
        dataset.with_format("arrow")
        .map(
            _check_batch,
            batched=True,
            fn_kwargs=kwargs,
            num_proc=num_proc,
            remove_columns=dataset.column_names,
            features=CHECK_FEATURES,
            load_from_cache_file=load_from_cache_file,
            desc="Checking records",
        )
        .with_format(None)
    )


def _to_8bit_images(dataset: datasets.Dataset, positions: set[int]) -> datasets.Dataset:
    """Re-encode the images of the records at ``positions`` as 8-bit RGB PNGs (decoded as images again)."""
    dataset = dataset.cast_column("images", datasets.List(datasets.Image(decode=False)))

    def convert(record: dict, position: int) -> dict:
        if position not in positions:
            return {"images": record["images"]}
        sources = [image["bytes"] or image["path"] for image in record["images"]]
        return {"images": [{"bytes": png_bytes(open_rgb(s)), "path": None} for s in sources]}

    dataset = dataset.map(convert, with_indices=True, desc="Scaling high-depth images to 8 bits")
    return dataset.cast_column("images", datasets.List(datasets.Image()))


def prepare_dataset(
    dataset: datasets.Dataset,
    processor,
    tags: CotTags = DEFAULT_TAGS,
    malformed: str = "skip",
    max_length: int | None = None,
    check: Callable[[dict], str | None] | None = None,
    num_proc: int | None = None,
    max_image_pixels: int | None = None,
) -> tuple[datasets.Dataset, DataReport]:
    """Keep the records that train correctly, with their token count in a ``length`` column; count (or, with
    ``malformed="error"``, raise on) the others.

    ``check`` is an extra rule (the reason to skip a record, or None), applied after the record checks; it must
    be a module-level function so that ``num_proc`` processes and the cache can use it.
    """
    results = check_dataset(
        dataset, processor, tags, max_length, check, num_proc, max_image_pixels=max_image_pixels
    )
    reasons, lengths = results["skip_reason"], results["length"]
    report = DataReport(total=len(dataset))
    for index, reason in enumerate(reasons):
        if reason is None:
            continue
        if malformed == "error":
            record_id = dataset.select_columns(["id"])[index]["id"] if "id" in dataset.column_names else "n/a"
            raise DataError(f"Record {index} (id {record_id}): {reason}.")
        report.skipped[reason] += 1
    keep = [i for i, reason in enumerate(reasons) if reason is None]
    report.kept = len(keep)
    report.direct_answer = sum(results["direct_answer"][i] for i in keep)
    if report.skipped:
        logger.warning("Skipped %d records: %s", sum(report.skipped.values()), report.summary())
    if not keep:
        raise DataError(f"No trainable records left: {report.summary()}")
    kept = dataset if len(keep) == len(dataset) else dataset.select(keep)
    if "length" in kept.column_names:
        kept = kept.remove_columns("length")
    kept = kept.add_column("length", [lengths[i] for i in keep])
    high_depth = {position for position, i in enumerate(keep) if results["high_depth"][i]}
    if high_depth:
        return _to_8bit_images(kept, high_depth), report
    if is_text_only(processor):  # TRL takes a dataset with an `images` column (even empty) for a vision one
        return kept.remove_columns([c for c in ("image", "images") if c in kept.column_names]), report
    if getattr(kept.features.get("images"), "feature", None) == datasets.Value("string"):  # JSON: file paths
        kept = kept.cast_column("images", datasets.List(datasets.Image()))
    return kept, report
