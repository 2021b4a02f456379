"""The one table of skip reasons (``scale_sft.data.skips``): the docs list exactly its reasons, and no check
writes a reason of its own."""

import ast
import re
from pathlib import Path

from scale_sft.data.skips import SkipReason

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "DATA.md"
ROW = re.compile(r"^\| `([^`]+)` \|")


def documented_reasons() -> list[str]:
    """The first cell of each row of the `## Skip reasons` table, less a `: ...` detail."""
    section = DOC.read_text().split("## Skip reasons", 1)[1].split("\n## ", 1)[0]
    rows = (ROW.match(line) for line in section.splitlines())
    return [row.group(1).removesuffix(": ...") for row in rows if row]


def test_the_docs_list_exactly_the_reasons_in_code():
    documented = documented_reasons()
    in_code = [reason.value for reason in SkipReason]
    assert len(documented) == len(set(documented)), "a reason is listed twice in docs/DATA.md"
    missing, unknown = set(in_code) - set(documented), set(documented) - set(in_code)
    assert not missing, f"docs/DATA.md does not list {sorted(missing)}: add a row to its skip-reason table"
    assert not unknown, f"docs/DATA.md lists {sorted(unknown)}, which SkipReason does not have"


def _literals(path: Path):
    """Each string a source file writes: plain literals, and the leading text of f-strings."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield node.lineno, node.value
        elif isinstance(node, ast.JoinedStr) and node.values and isinstance(node.values[0], ast.Constant):
            yield node.lineno, node.values[0].value


def test_every_skip_uses_the_table():
    """A reason written out as a literal would drift from the table: each check names a ``SkipReason``.

    Not searched: the converters, which count *source* records under their own reasons before any record
    exists (a few share words with these), and the one-word ``malformed``, an ordinary key elsewhere."""
    reasons = {reason.value for reason in SkipReason if " " in reason.value}
    package = ROOT / "src" / "scale_sft"
    found = [
        f"{path.relative_to(ROOT)}:{line}: {text!r}"
        for path in sorted(package.rglob("*.py"))
        if path.name != "skips.py" and "converters" not in path.parts
        for line, text in _literals(path)
        if text in reasons or any(text.startswith(f"{reason}: ") for reason in reasons)
    ]
    assert not found, "write these as SkipReason members:\n" + "\n".join(found)
