"""The tag strings that delimit the reasoning and the answer of a chain-of-thought completion.

Ground floor: imports nothing from the package. Every rule that reads tags (segment labelling, answer
extraction, rewards, converters) takes a ``CotTags`` so that a dataset with other tags works end to end;
``TagArguments`` are the four ``--*_tag`` flags every command that reads or writes tags takes.
"""

from __future__ import annotations

from dataclasses import dataclass, field


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


@dataclass
class TagArguments:
    """The tag flags (``--think_start_tag`` ...) of every command that reads or writes tagged text."""

    think_start_tag: str = field(
        default=DEFAULT_TAGS.think_start, metadata={"help": "Tag opening the reasoning."}
    )
    think_end_tag: str = field(
        default=DEFAULT_TAGS.think_end, metadata={"help": "Tag closing the reasoning."}
    )
    answer_start_tag: str = field(
        default=DEFAULT_TAGS.answer_start, metadata={"help": "Tag opening the answer."}
    )
    answer_end_tag: str = field(default=DEFAULT_TAGS.answer_end, metadata={"help": "Tag closing the answer."})

    @property
    def tags(self) -> CotTags:
        return CotTags(self.think_start_tag, self.think_end_tag, self.answer_start_tag, self.answer_end_tag)
