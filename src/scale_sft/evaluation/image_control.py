"""Image-blind controls for evaluation: how much of a model's accuracy comes from looking at the image.

``"blank"`` replaces every image by a constant grey image of the same size (the prompt, and so the number of
image tokens, stays the same); ``"shuffle"`` gives every item the images of another item, by a seeded
permutation without fixed points (one cycle through a seeded random order). A model that reads its images
loses accuracy under both; a model that answers from the question alone (a prior over answers) does not.
"""

from __future__ import annotations

import random

from PIL import Image

IMAGE_CONTROLS = ("none", "blank", "shuffle")
GREY = (128, 128, 128)


def check_image_control(image_control: str) -> None:
    if image_control not in IMAGE_CONTROLS:
        raise ValueError(f"image_control must be one of {IMAGE_CONTROLS}, got {image_control!r}.")


def blank_image(image: Image.Image) -> Image.Image:
    """A constant grey RGB image of ``image``'s size."""
    return Image.new("RGB", image.size, GREY)


def derangement(n: int, seed: int = 0) -> list[int]:
    """``source[i]``: the item whose images item ``i`` gets; a permutation with ``source[i] != i`` for every
    ``i`` (``n >= 2``), the same for the same ``n`` and ``seed``."""
    if n < 2:
        raise ValueError(f"Shuffling images across items needs at least 2 items, got {n}.")
    order = list(range(n))
    random.Random(f"scale-sft-image-shuffle:{seed}").shuffle(order)
    source = [0] * n
    for k, item in enumerate(order):  # each item takes the images of the next one in the shuffled order
        source[item] = order[(k + 1) % n]
    return source


def apply_image_control(records: list[dict], image_control: str, seed: int = 0) -> list[dict]:
    """``records`` with their ``images`` blanked or shuffled across items (shallow copies; ``"none"``: as
    they are). Raises ``ValueError`` naming the first record without an image (a control needs images) or, for
    ``"shuffle"``, with another number of images than the first (its prompt holds one placeholder per image)."""
    check_image_control(image_control)
    if image_control == "none":
        return records
    for index, record in enumerate(records):
        if not record.get("images"):
            raise ValueError(
                f"image_control={image_control!r} needs an image in every record; record {index} "
                f"(id {record.get('id')!r}) has none in its 'images' field."
            )
    if image_control == "blank":
        return [{**r, "images": [blank_image(image) for image in r["images"]]} for r in records]
    for index, record in enumerate(records):
        if len(record["images"]) != len(records[0]["images"]):
            raise ValueError(
                f"image_control='shuffle' needs the same number of images in every record; record {index} "
                f"(id {record.get('id')!r}) has {len(record['images'])}, record 0 has {len(records[0]['images'])}."
            )
    source = derangement(len(records), seed)
    return [{**r, "images": records[source[i]]["images"]} for i, r in enumerate(records)]
