"""Why a record is skipped: the one table of reasons that every record check counts under.

``prepare_dataset`` (before SFT and GRPO) and the gold-answer check (before GRPO and ``eval``) return these;
``docs/DATA.md`` lists each with what it means, and a test keeps the two equal. A new reason is one member
here and one row there.
"""

from __future__ import annotations

from enum import Enum


class SkipReason(Enum):
    """A reason a record is skipped; its ``value`` is the text it is counted (and reported) under."""

    INVALID_MESSAGE = "invalid message"
    INVALID_MESSAGE_CONTENT = "invalid message content"
    NO_ASSISTANT_TARGET = "no assistant target"
    EMPTY_TARGET = "empty target"
    IMAGE_OUTSIDE_USER_TURN = "image outside a user turn"
    SPECIAL_TOKEN_IN_TEXT = "special token in text"
    INVALID_IMAGE_ENTRY = "invalid image entry"
    MISSING_IMAGE = "missing image"
    IMAGE_NOT_REGULAR_FILE = "image not a regular file"
    UNREADABLE_IMAGE = "unreadable image"
    DECOMPRESSION_BOMB = "image too large (decompression bomb)"
    IMAGE_OVER_MAX_PIXELS = "image over max_image_pixels"
    IMAGE_COUNT_MISMATCH = "image count mismatch"
    IMAGES_FOR_TEXT_ONLY_MODEL = "images for a text-only model"
    MALFORMED = "malformed"
    CHAT_TEMPLATE_ERROR = "chat template error"
    PROCESSOR_ERROR = "processor error"
    LONGER_THAN_MAX_LENGTH = "longer than max_length"
    NO_GOLD_ANSWER = "no gold answer"
    UNKNOWN_ANSWER_TYPE = "unknown answer_type"
    INVALID_CHOICES = "invalid choices"
    GOLD_ANSWER_UNREADABLE = "gold answer unreadable"

    def detailed(self, error: object) -> str:
        """The reason followed by the error that caused it (``malformed: ...``), for reasons whose cause
        varies with the record; each distinct message is counted on its own."""
        return f"{self.value}: {error}"
