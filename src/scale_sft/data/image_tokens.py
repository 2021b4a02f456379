"""A record's token length from its image sizes, without the processor's pixel pass.

The processor replaces each image placeholder in the text by a run of image tokens whose length follows from
the image's size alone: Qwen2.5-VL resizes with ``smart_resize`` (one token per merged 28x28 patch), LLaVA-NeXT
tiles the best-fitting grid (a base view plus the unpadded tiles and a newline token per row), Gemma 3 gives
every image ``image_seq_length`` soft tokens between begin/end-of-image tokens, plus as many more views as
pan-and-scan crops. Each rule is transformers' own (``_get_num_multimodal_tokens``, the pan-and-scan crop rule,
the processor's ``replace_image_token`` and ``get_text_with_replacements``), applied to sizes instead of pixels,
so checking a record costs one header read and a reduced decode instead of a resize and normalise of every
pixel. ``expanded_length`` returns None for a processor whose rules are not known here; the caller then runs
the full processor.

``read_image_size`` still decodes the image (a JPEG at 1/8 scale, which reads every byte of its entropy-coded
data, so a truncated file still fails), because a header read alone misses truncation.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence

import numpy as np
from PIL import Image

from scale_sft.data.images import check_regular_file

Size = tuple[int, int]  # (height, width), the order transformers' size rules take

# EXIF orientations that rotate by 90 degrees: `datasets` and transformers' `load_image` apply them on decode.
_TRANSPOSED_ORIENTATIONS = {5, 6, 7, 8}


def read_image(image) -> tuple[Size, str]:
    """The (height, width) training will see for ``image`` and its PIL mode, after checking that it decodes.

    ``image`` is a path, a ``datasets.Image(decode=False)`` value (``{"bytes": ..., "path": ...}``) or a PIL
    image. A JPEG is decoded at reduced scale (``Image.draft``): the entropy-coded data is still read in full,
    so truncation raises as in a full decode, at a fraction of its cost. Raises ``FileNotFoundError`` for a
    missing file, ``PIL.Image.DecompressionBombError`` for a huge one and ``OSError``
    (``PIL.UnidentifiedImageError`` included) for an unreadable or truncated one, ``NotARegularFileError``
    (an ``OSError``) for a path that is not a regular file.
    """
    if isinstance(image, Image.Image):
        image.load()
        return (image.height, image.width), image.mode
    if isinstance(image, dict):
        image = io.BytesIO(image["bytes"]) if image.get("bytes") is not None else image["path"]
    if not isinstance(image, io.BytesIO):
        check_regular_file(image)  # a FIFO would block the open forever
    with Image.open(image) as handle:
        width, height = handle.size
        mode = handle.mode
        orientation = handle.getexif().get(Image.ExifTags.Base.Orientation)
        if handle.format == "JPEG":
            handle.draft("RGB", (width // 8, height // 8))
        handle.load()
    return ((width, height) if orientation in _TRANSPOSED_ORIENTATIONS else (height, width)), mode


def read_image_size(image) -> Size:
    """``read_image``'s size alone."""
    return read_image(image)[0]


def _repeated_image_token(processor, sizes: Sequence[Size], **kwargs) -> list[str] | None:
    """Qwen2-VL / Qwen2.5-VL and LLaVA-NeXT: the image token repeated as often as the processor's own count."""
    image_processor = processor.image_processor
    crop = getattr(image_processor, "crop_size", None)
    if crop is not None and (crop["height"], crop["width"]) != (image_processor.size["shortest_edge"],) * 2:
        return None  # LLaVA-NeXT's count assumes square crops of the resize size, as its checkpoints have
    counts = processor._get_num_multimodal_tokens(image_sizes=list(sizes), **kwargs)["num_image_tokens"]
    return [processor.image_token * count for count in counts]


_PAN_AND_SCAN_LIMITS = (
    "pan_and_scan_min_crop_size",
    "pan_and_scan_max_num_crops",
    "pan_and_scan_min_ratio_to_activate",
)


def _gemma3_images(processor, sizes: Sequence[Size], **kwargs) -> list[str]:
    """Gemma 3: the processor's own image sequence, repeated for its pan-and-scan crops.

    The crop rule runs on an empty array of the image's shape (zero channels), so it counts crops without pixels.
    """
    image_processor = processor.image_processor
    options = processor._merge_kwargs(tokenizer_init_kwargs=processor.tokenizer.init_kwargs, **kwargs)
    options = options["images_kwargs"]
    settings = {  # as the image processor resolves them: the call's options, else its own attributes
        name: getattr(image_processor, name) if options.get(name) is None else options[name]
        for name in ("do_pan_and_scan", *_PAN_AND_SCAN_LIMITS)
    }
    crop_rule = getattr(image_processor, "pan_and_scan_batched", None) or image_processor.pan_and_scan
    num_crops = []
    for height, width in sizes:
        crops = []
        if settings["do_pan_and_scan"]:
            limits = {name: settings[name] for name in _PAN_AND_SCAN_LIMITS}
            crops = crop_rule(np.empty((0, height, width), dtype=np.uint8), **limits)
        num_crops.append(len(crops))
    return [processor.replace_image_token({"num_crops": num_crops}, index) for index in range(len(sizes))]


# Processor class -> the text it puts in place of each image; a class missing here gets None (full processor).
_PLACEHOLDER_RULES: dict[str, Callable[..., list[str] | None]] = {
    "Qwen2VLProcessor": _repeated_image_token,
    "Qwen2_5_VLProcessor": _repeated_image_token,
    "LlavaNextProcessor": _repeated_image_token,
    "Gemma3Processor": _gemma3_images,
}


def image_placeholders(processor, sizes: Sequence[Size], **processor_kwargs) -> list[str] | None:
    """Per image of (height, width) ``sizes``, the text ``processor`` puts in place of its image placeholder.

    ``processor_kwargs`` are the options the processor will be called with (``do_pan_and_scan=True``...).
    None when the processor's rules are not known here.
    """
    rule = _PLACEHOLDER_RULES.get(type(processor).__name__)
    # None for an unknown processor, or a transformers release without the placeholder-replacement API
    if rule is None or not hasattr(processor, "get_text_with_replacements"):
        return None
    return rule(processor, sizes, **processor_kwargs)


def expanded_length(processor, text: str, sizes: Sequence[Size], **processor_kwargs) -> int | None:
    """``len(processor(images=..., text=[text], add_special_tokens=False)["input_ids"][0])`` from image sizes.

    The placeholders are expanded with the processor's own ``get_text_with_replacements`` and the result is
    tokenized, so text the expansion adds (Gemma 3's blank lines) merges with its neighbours exactly as in the
    processor. None when the processor's rules are not known here.
    """
    if not sizes:
        tokenizer = getattr(processor, "tokenizer", processor)
        return len(tokenizer(text, add_special_tokens=False)["input_ids"])
    placeholders = image_placeholders(processor, sizes, **processor_kwargs)
    if placeholders is None:
        return None
    (expanded,), _ = processor.get_text_with_replacements([text], images_replacements=placeholders)
    return len(processor.tokenizer(expanded, add_special_tokens=False)["input_ids"])
