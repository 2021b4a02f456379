"""Checking records before training: every record that would train wrongly is removed and counted.

``prepare_dataset`` decides, before any training or generation, whether each record can be trained on, and
counts each one it removes under its own reason:

- ``invalid message`` / ``invalid message content``: a message that is not ``{"role", "content"}`` with a known
  role, or content that is neither a string nor a list of text/image parts (e.g. ``None``);
- ``no assistant target``, ``empty target`` (an empty or whitespace-only assistant message);
- ``image outside a user turn``: image placeholders are allowed in user turns only (elsewhere the processor's
  image expansion would shift the THINK/ANSWER labels);
- ``special token in text``: a special token of the processor (``<|image_pad|>``, ``<image>``,
  ``<|im_end|>``, ``</s>``, ...) written as text, except the configured tags;
- ``invalid image entry`` (not a path or an image), ``missing image``, ``unreadable image``,
  ``image too large (decompression bomb)``, ``image count mismatch`` (placeholders vs. images);
- ``malformed: ...`` (tags that cannot be split), ``chat template error: ...``, ``processor error: ...``;
- ``longer than max_length`` (the answer would be lost to truncation);
- whatever an extra ``check`` returns (GRPO's gold-answer check).

With ``malformed="error"`` the first such record raises ``DataError`` naming its index and id. Images of
16 bits or more are re-encoded as 8-bit RGB (``scale_sft.data.images.to_rgb``), so no processor clips them.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass

import datasets
from jinja2 import TemplateError
from PIL import Image
from tqdm.auto import tqdm

from scale_sft.data.format import message_text, render_sample
from scale_sft.data.images import HIGH_DEPTH_MODES, open_rgb, png_bytes
from scale_sft.data.loading import DataError, DataReport
from scale_sft.segments import MalformedSampleError
from scale_sft.tags import DEFAULT_TAGS, CotTags

logger = logging.getLogger(__name__)

ROLES = ("system", "user", "assistant")
PROCESSOR_TOKEN_ATTRIBUTES = ("image_token", "boi_token", "eoi_token", "video_token")


@dataclass
class Verdict:
    """The outcome of checking one record: ``reason`` to skip it (None keeps it)."""

    reason: str | None = None
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
    return re.compile("|".join(re.escape(t) for t in sorted(tokens, key=len, reverse=True)))


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
        return "invalid message"
    for message in messages:
        content = message["content"]
        if not isinstance(content, str) and not (isinstance(content, list) and all(map(_part_ok, content))):
            return "invalid message content"
    if not messages or messages[-1]["role"] != "assistant":
        return "no assistant target"
    if any(_has_image(m) for m in messages if m["role"] != "user"):
        return "image outside a user turn"
    if not message_text(messages[-1]).strip():
        return "empty target"
    if special_tokens and any(special_tokens.search(t) for m in messages for t in _texts(m)):
        return "special token in text"
    return None


def _open_images(images) -> tuple[list[Image.Image] | None, str | None, bool]:
    """The images as 8-bit RGB, the reason they cannot be used (or None), and whether any was high-depth."""
    if images is None:
        return [], None, False
    if not isinstance(images, list) or not all(isinstance(i, (str, Image.Image)) for i in images):
        return None, "invalid image entry", False
    opened, high_depth = [], False
    for image in images:
        try:
            if isinstance(image, str):
                with Image.open(image) as handle:
                    high_depth |= handle.mode in HIGH_DEPTH_MODES
                    opened.append(open_rgb(handle))  # a full decode: a truncated file fails here
            else:
                high_depth |= image.mode in HIGH_DEPTH_MODES
                opened.append(open_rgb(image))
        except FileNotFoundError:
            return None, "missing image", False
        except Image.DecompressionBombError:
            return None, "image too large (decompression bomb)", False
        except OSError:
            return None, "unreadable image", False
    return opened, None, high_depth


def _render_problem(record: dict, images: list, processor, tags: CotTags, max_length: int | None):
    """Render and tokenize the record as the collator will: the reason it fails (or None), and whether it is
    a direct answer."""
    try:
        text, spans = render_sample(processor, record["messages"], tags)
    except MalformedSampleError as err:
        return f"malformed: {err}", False
    except (TemplateError, ValueError) as err:
        return f"chat template error: {err}", False
    try:
        length = len(processor(images=images or None, text=[text], add_special_tokens=False)["input_ids"][0])
    except ValueError as err:
        return f"processor error: {err}", False
    if max_length is not None and length > max_length:
        return "longer than max_length", False
    return None, spans.answer_from_end == spans.completion_from_end


def _check_record(record: dict, processor, tags: CotTags, max_length: int | None, special_tokens) -> Verdict:
    messages = record.get("messages")
    reason = _message_problem(messages, special_tokens)
    if reason:
        return Verdict(reason)
    images, reason, high_depth = _open_images(record.get("images"))
    if reason:
        return Verdict(reason)
    n_placeholders = sum(p["type"] == "image" for m in messages if _has_image(m) for p in m["content"])
    if n_placeholders != len(images):
        return Verdict("image count mismatch")
    reason, direct = _render_problem(record, images, processor, tags, max_length)
    return Verdict(reason, direct, high_depth)


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
) -> tuple[datasets.Dataset, DataReport]:
    """Keep the records that train correctly; count (or, with ``malformed="error"``, raise on) the others.

    ``check`` is an extra rule (the reason to skip a record, or None), applied after the record checks.
    """
    report = DataReport(total=len(dataset))
    special_tokens = special_token_pattern(processor, tags)
    keep, high_depth = [], set()
    for index in tqdm(range(len(dataset)), desc="Checking records", disable=len(dataset) < 1000):
        record: dict = {}
        try:
            record = dataset[index]
        except Image.DecompressionBombError:
            verdict = Verdict("image too large (decompression bomb)")
        except OSError:  # an image column that fails to decode
            verdict = Verdict("unreadable image")
        else:
            verdict = _check_record(record, processor, tags, max_length, special_tokens)
            if verdict.reason is None and check is not None:
                verdict.reason = check(record)
        if verdict.reason is None:
            if verdict.high_depth:
                high_depth.add(len(keep))
            keep.append(index)
            report.direct_answer += verdict.direct_answer
            continue
        if malformed == "error":
            raise DataError(f"Record {index} (id {record.get('id', 'n/a')}): {verdict.reason}.")
        report.skipped[verdict.reason] += 1
    report.kept = len(keep)
    if report.skipped:
        logger.warning("Skipped %d records: %s", sum(report.skipped.values()), report.summary())
    if not keep:
        raise DataError(f"No trainable records left: {report.summary()}")
    kept = dataset if len(keep) == len(dataset) else dataset.select(keep)
    if high_depth:
        return _to_8bit_images(kept, high_depth), report
    if getattr(kept.features.get("images"), "feature", None) == datasets.Value("string"):  # JSON: file paths
        kept = kept.cast_column("images", datasets.List(datasets.Image()))
    return kept, report
