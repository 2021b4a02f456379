"""The output directory: one holding another run is refused unless resuming or overwriting."""

import pytest
from helpers import QUIET

from scale_sft.cli import main
from scale_sft.sft.sft_config import ScaleSFTConfig


def test_output_dir_of_another_run_is_refused(trained_qwen_dir, synthetic_dir, tmp_path):
    before = sorted(p.name for p in trained_qwen_dir.iterdir())
    for command in ("train", "grpo"):
        with pytest.raises(FileExistsError, match="--overwrite_output_dir"):
            main([command, "--model", str(trained_qwen_dir), "--dataset", str(synthetic_dir), "--output_dir",
                  str(trained_qwen_dir), "--max_steps", "1", *QUIET])  # fmt: skip
    assert sorted(p.name for p in trained_qwen_dir.iterdir()) == before


def test_overwrite_removes_the_old_runs_checkpoints(tmp_path):
    out = tmp_path / "run"
    (out / "checkpoint-4").mkdir(parents=True)
    (out / "run.json").write_text("{}")
    (out / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match=r"checkpoint-4, run\.json"):
        ScaleSFTConfig(output_dir=str(out), report_to="none").claim_output_dir()
    ScaleSFTConfig(output_dir=str(out), report_to="none", resume_from_checkpoint=True).claim_output_dir()
    assert (out / "checkpoint-4").is_dir()  # resuming keeps them
    ScaleSFTConfig(output_dir=str(out), report_to="none", overwrite_output_dir=True).claim_output_dir()
    assert [p.name for p in out.iterdir()] == ["notes.txt"]
    ScaleSFTConfig(output_dir=str(out), report_to="none").claim_output_dir()  # nothing of a run left
