"""The output directory: one holding another run is refused unless resuming or overwriting."""

import pytest
from helpers import QUIET

from scale_sft.cli import main


def test_output_dir_of_another_run_is_refused(trained_qwen_dir, synthetic_dir, tmp_path):
    before = sorted(p.name for p in trained_qwen_dir.iterdir())
    for command in ("train", "grpo"):
        with pytest.raises(FileExistsError, match="--overwrite_output_dir"):
            main([command, "--model", str(trained_qwen_dir), "--dataset", str(synthetic_dir), "--output_dir",
                  str(trained_qwen_dir), "--max_steps", "1", *QUIET])  # fmt: skip
    assert sorted(p.name for p in trained_qwen_dir.iterdir()) == before

