"""Record checks that scale: image sizes instead of the pixel pass, in parallel through ``datasets.Dataset.map``.

``check_record`` applies the same rules and skip reasons as the one-record-at-a-time check, but reads each image
once at reduced scale (``read_image_size``) and counts its tokens from its size (``expanded_length``); only a
processor whose size rules are not known runs in full. ``check_dataset`` maps it over a dataset with
``num_proc`` processes, reading images undecoded, and returns one row of results per record. ``datasets``
caches that result by fingerprint (the dataset's, and a hash of the function with its processor and
settings), so a second run on the same data and settings reads it back instead of checking again.
"""

from __future__ import annotations

from typing import NamedTuple

import datasets

from scale_sft.data.format import render_sample
from scale_sft.data.image_tokens import expanded_length, read_image_size
from scale_sft.segments import MalformedSampleError
from scale_sft.tags import DEFAULT_TAGS, CotTags

CHECK_FEATURES = datasets.Features(
    {
        "skip_reason": datasets.Value("string"),
        "length": datasets.Value("int64"),
        "direct_answer": datasets.Value("bool"),
    }
)


class RecordCheck(NamedTuple):
    """The reason to skip a record (None to keep it), its token length and whether it is a direct answer.

    ``length`` is the number of ``input_ids`` the processor gives the rendered record (no special tokens added),
    None when the record is skipped before it can be rendered.
    """

    reason: str | None
    length: int | None = None
    direct: bool = False


def _image_count(messages: list[dict]) -> int:
    """The image placeholders of a conversation."""
    return sum(
        1
        for m in messages
        if not isinstance(m["content"], str)
        for p in m["content"]
        if p.get("type") == "image"
    )


def _full_length(processor, text: str, images: list) -> int:
    """The token length from the whole processor, for a processor whose size rules are not known here."""
    decoded = [  # as training will see them: decoded by `datasets`, EXIF rotation applied
        datasets.Image().decode_example({"path": i, "bytes": None} if isinstance(i, str) else i)
        if isinstance(i, (str, dict))
        else i
        for i in images
    ]
    return len(processor(images=decoded or None, text=[text], add_special_tokens=False)["input_ids"][0])


def check_record(
    record: dict, processor, tags: CotTags = DEFAULT_TAGS, max_length: int | None = None
) -> RecordCheck:
    """Check one record: its images decode, match its placeholders, its tags parse and it fits ``max_length``.

    Images may be paths, ``datasets.Image(decode=False)`` values or PIL images.
    """
    messages = record.get("messages")
    if not messages or messages[-1].get("role") != "assistant":
        return RecordCheck("no assistant target")
    images = record.get("images") or []
    try:
        sizes = [read_image_size(image) for image in images]
    except FileNotFoundError:
        return RecordCheck("missing image")
    except OSError:
        return RecordCheck("unreadable image")
    if _image_count(messages) != len(images):
        return RecordCheck("image count mismatch")
    try:
        text, spans = render_sample(processor, messages, tags)
    except MalformedSampleError as err:
        return RecordCheck(f"malformed: {err}")
    length = expanded_length(processor, text, sizes)
    if length is None:
        length = _full_length(processor, text, images)
    if max_length is not None and length > max_length:
        return RecordCheck("longer than max_length", length)
    return RecordCheck(None, length, spans.answer_from_end == spans.completion_from_end)


def _check_batch(batch, processor, tags: CotTags, max_length: int | None) -> dict:
    """``check_record`` over an Arrow batch, whose images are still undecoded ``{"bytes", "path"}`` values."""
    checks = [check_record(record, processor, tags, max_length) for record in batch.to_pylist()]
    return {
        "skip_reason": [check.reason for check in checks],
        "length": [check.length for check in checks],
        "direct_answer": [check.direct for check in checks],
    }


def check_dataset(
    dataset: datasets.Dataset,
    processor,
    tags: CotTags = DEFAULT_TAGS,
    max_length: int | None = None,
    num_proc: int | None = None,
    load_from_cache_file: bool | None = None,
) -> datasets.Dataset:
    """``check_record`` for every record, in ``num_proc`` processes: a dataset of ``CHECK_FEATURES`` columns
    (``skip_reason``, ``length``, ``direct_answer``), one row per record in order.

    The records are read as Arrow batches, so images reach the check undecoded (it decodes them itself, at
    reduced scale) and nothing is rewritten but the three result columns. The result is cached next to the
    dataset's own cache files when it has any; ``load_from_cache_file`` is passed to ``Dataset.map``.
    """
    return (
        dataset.with_format("arrow")
        .map(
            _check_batch,
            batched=True,
            fn_kwargs={"processor": processor, "tags": tags, "max_length": max_length},
            num_proc=num_proc,
            remove_columns=dataset.column_names,
            features=CHECK_FEATURES,
            load_from_cache_file=load_from_cache_file,
            desc="Checking records",
        )
        .with_format(None)
    )
