"""The tag strings that delimit the reasoning and the answer of a chain-of-thought completion.

Ground floor: imports nothing from the package. Every rule that reads tags (segment labelling, answer
extraction, rewards, converters) takes a ``CotTags`` so that a dataset with other tags works end to end.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CotTags:
    """The tag strings that delimit reasoning and answer (configurable per dataset)."""

    think_start: str = "<think>"
    think_end: str = "</think>"
    answer_start: str = "<answer>"
    answer_end: str = "</answer>"

    def as_list(self) -> list[str]:
        return [self.think_start, self.think_end, self.answer_start, self.answer_end]


DEFAULT_TAGS = CotTags()
