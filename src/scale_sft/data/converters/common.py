"""What every converter shares: the skip exception, the conversion loop, record building and image files.

Images are read only from the folders a conversion declares: relative paths are looked up under
``--image_root`` (when given), then under the input's folder, and must resolve there (symlinks followed); an
absolute path, or one that ``..`` leads out of those folders, is a counted skip unless ``allow_outside`` is set.
Each file must open as an image (``PIL.Image.verify``), so a converted dataset never embeds the bytes of some
other file. Images already decoded (PIL, or ``{"bytes": ...}`` from a hub dataset) are verified likewise.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import datasets
from PIL import Image

from scale_sft.data.format import assistant_message, message_text, user_message
from scale_sft.data.loading import DataReport
from scale_sft.segments import MalformedSampleError
from scale_sft.tags import DEFAULT_TAGS, CotTags

# What PIL raises on a file that is not a readable image (a decompression bomb is not an OSError).
_IMAGE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError)


class Unconvertible(ValueError):
    """A source record that cannot be converted; the message is the reason it is counted under."""


def text_field(record: dict, key: str) -> str:
    """``record[key]`` as text (``""`` when absent or null); any other type is a counted skip."""
    value = record.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise Unconvertible(f"{key} is not text")
    return value


def direct_completion(answer: str, tags: CotTags = DEFAULT_TAGS) -> str:
    """A target without reasoning: the answer in the answer tags."""
    return f"{tags.answer_start}{answer}{tags.answer_end}"


def make_record(
    id_: str,
    question: str,
    completion: str,
    images: list,
    answer: str,
    answer_type: str,
    choices: list[str],
    source: str,
    category: str = "",
    tags: CotTags = DEFAULT_TAGS,
    context: list[dict] | None = None,
) -> dict:
    """A record in the project's format; ``context`` holds earlier turns of a multi-round conversation."""
    n_context_images = sum(p["type"] == "image" for m in context or [] for p in m["content"])
    return {
        "id": id_,
        "messages": [
            *(context or []),
            user_message(question, len(images) - n_context_images, tags),
            assistant_message(completion),
        ],
        "images": images,
        "question": question,
        "answer": answer,
        "answer_type": answer_type,
        "choices": choices,
        "source": source,
        "category": category,
    }


def _each(records: Iterable) -> Iterable:
    """The records, with a row of a ``datasets.Dataset`` whose image fails to decode as an ``Unconvertible``."""
    if not isinstance(records, datasets.Dataset):
        yield from records
        return
    for index in range(len(records)):
        try:
            yield records[index]
        except _IMAGE_ERRORS:
            yield Unconvertible("unreadable image")


def run(
    source: str, records: Iterable, convert_one: Callable[[dict, int], dict], tags: CotTags = DEFAULT_TAGS
) -> tuple[list[dict], DataReport]:
    """Convert every record; each one ``convert_one`` rejects (``Unconvertible``, or a source reply that breaks
    the tag rules of ``segments.answer_start``) is counted under its reason, none is lost.

    ``convert_one`` may list, under a ``changed`` key of its result, what it altered in a kept record; those
    are counted in ``report.changed`` and the key removed.
    """
    report = DataReport(source)
    converted = []
    for index, record in enumerate(_each(records)):
        report.total += 1
        try:
            if isinstance(record, Unconvertible):
                raise record
            if not isinstance(record, dict):
                raise Unconvertible("record is not an object")
            result = convert_one(record, index)
        except (Unconvertible, MalformedSampleError) as err:  # a tag-rule violation is counted the same way
            report.skipped[str(err)] += 1
            continue
        converted.append(result)
        report.direct_answer += tags.think_start not in message_text(result["messages"][-1])
        for change in result.pop("changed", ()):
            report.changed[change] += 1
    report.kept = len(converted)
    return converted, report


def _verified(open_image: Callable[[], Image.Image]) -> None:
    try:
        with open_image() as image:
            image.verify()
    except _IMAGE_ERRORS:
        raise Unconvertible("not a readable image") from None


@dataclass(frozen=True)
class ImageFiles:
    """Resolves a source's image values: from the folders in ``roots`` only, unless ``allow_outside``."""

    roots: tuple[Path, ...] = ()
    allow_outside: bool = False

    @classmethod
    def of(cls, input_folder: Path | None, image_root: str | Path | None, allow_outside: bool = False):
        roots = tuple(Path(r) for r in (image_root, input_folder) if r is not None)
        return cls(roots, allow_outside)

    def resolve(self, value) -> str | Image.Image | None:
        """A verified PIL image or image file path (str) for ``value``; None when there is no image."""
        if value is None or isinstance(value, Image.Image):
            return value
        if isinstance(value, dict):  # an undecoded datasets Image: {"bytes": ..., "path": ...}
            if value.get("bytes"):
                data = value["bytes"]
                _verified(lambda: Image.open(io.BytesIO(data)))
                return Image.open(io.BytesIO(data))
            value = value.get("path")
            if not value:
                return None
        if not isinstance(value, str):
            raise Unconvertible(f"unsupported image value ({type(value).__name__})")
        if not value.strip():
            return None
        path = self.find(value)
        _verified(lambda: Image.open(path))
        return str(path)

    def find(self, name: str) -> Path:
        """The file ``name`` refers to, inside the roots (module docstring); raises ``Unconvertible``."""
        path = Path(name)
        if self.allow_outside:
            candidates = [path] if path.is_absolute() else [root / path for root in self.roots] or [path]
            found = next((c for c in candidates if c.is_file()), None)
            if found is None:
                raise Unconvertible("missing image")
            return found
        if path.is_absolute():
            raise Unconvertible("absolute image path")
        if not self.roots:
            raise Unconvertible("image path without an image folder")
        outside = False
        for root in self.roots:
            resolved = (root / path).resolve()
            if not resolved.is_relative_to(root.resolve()):
                outside = True
            elif resolved.is_file():
                return resolved
        raise Unconvertible("image path outside the image folders" if outside else "missing image")


def image_name(value) -> str | None:
    """The file name an image value refers to, if it has one."""
    if isinstance(value, dict):
        value = value.get("path")
    if isinstance(value, Image.Image):
        value = getattr(value, "filename", None)
    return Path(value).name if isinstance(value, str) and value else None
