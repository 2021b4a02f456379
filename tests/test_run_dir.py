"""``claim_output_dir``: one run per output folder, decided before anything is loaded; another run's outputs
replaced only once the new run has started; a resume checked against the run it continues."""

import json
import signal
import subprocess
import sys

import pytest
from transformers import TrainerControl, TrainerState

from scale_sft.checkpoints import CheckpointError
from scale_sft.run_dir import LOCK_FILE, ResumeMismatchError, claim_output_dir, settings_differences
from scale_sft.sft.sft_config import ScaleSFTConfig


def _config(out, **kwargs):
    return ScaleSFTConfig(output_dir=str(out), report_to="none", **kwargs)


def _claim(config, settings=None):
    """Claim and release at once: what a run that stops right after the claim does."""
    with claim_output_dir(config, settings or {}):
        pass


def test_a_second_run_into_a_claimed_folder_is_refused(tmp_path):
    out = tmp_path / "run"
    first = claim_output_dir(_config(out), {})
    first.__enter__()
    with pytest.raises(FileExistsError, match=r"in use by another run \(pid \d+"):
        _claim(_config(out))
    first.__exit__(None, None, None)
    _claim(_config(out))  # released at the end of the first run


def test_a_lock_left_by_a_killed_run_does_not_block(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    holder = subprocess.Popen(
        [sys.executable, "-c", "import fcntl, sys, time; h = open(sys.argv[1], 'a+'); fcntl.flock(h, fcntl.LOCK_EX); "
         "print('held', flush=True); time.sleep(60)", str(out / LOCK_FILE)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(FileExistsError, match="in use by another run"):
        _claim(_config(out))
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    with claim_output_dir(_config(out), {}):
        assert (out / LOCK_FILE).is_file()


def test_an_output_dir_that_is_a_file_is_refused(tmp_path):
    out = tmp_path / "run"
    out.write_text("not a folder")
    with pytest.raises(NotADirectoryError, match="is a file"):
        _claim(_config(out))


def test_overwrite_removes_the_old_run_only_after_the_first_step(tmp_path):
    out = tmp_path / "run"
    (out / "checkpoint-4").mkdir(parents=True)
    (out / "run.json").write_text("{}")
    (out / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match=r"checkpoint-4, run\.json"):
        _claim(_config(out))
    failed = claim_output_dir(_config(out, overwrite_output_dir=True), {})
    failed.__enter__()
    failed.__exit__(
        RuntimeError, RuntimeError("failed to start"), None
    )  # the run failed before its first step
    assert (out / "checkpoint-4").is_dir() and (out / "run.json").is_file()  # nothing lost
    with claim_output_dir(_config(out, overwrite_output_dir=True), {}) as claim:
        assert (out / "checkpoint-4").is_dir()
        claim.on_step_end(_config(out), TrainerState(), TrainerControl())
        assert sorted(p.name for p in out.iterdir()) == [LOCK_FILE, "notes.txt"]


def test_settings_differences_ignore_where_and_how_often():
    saved = {
        "loss_method": "scale",
        "answer_weight_end": 0.8,
        "save_steps": 1,
        "logging_steps": 1,
        "output_dir": "a",
    }
    now = {
        "loss_method": "vanilla",
        "answer_weight_end": 0.8,
        "save_steps": 5,
        "logging_steps": 2,
        "output_dir": "b",
    }
    assert settings_differences(saved, now) == ["loss_method: 'scale' -> 'vanilla'"]
    assert settings_differences(saved, saved | {"segment_normalization": "step"}) == [
        "segment_normalization: '(not set)' -> 'step'"
    ]


def test_resume_from_true_without_a_checkpoint_is_refused(tmp_path):
    with pytest.raises(CheckpointError, match="No complete checkpoint"):
        _claim(_config(tmp_path / "run", resume_from_checkpoint="true"))


def test_resume_with_other_settings_is_refused_naming_them(tmp_path):
    checkpoint = tmp_path / "run" / "checkpoint-1"
    checkpoint.mkdir(parents=True)
    (checkpoint / "trainer_state.json").write_text(json.dumps({"global_step": 1}))
    (checkpoint / "model.safetensors").write_bytes(b"\x02\x00\x00\x00\x00\x00\x00\x00{}")
    (checkpoint / "run_settings.json").write_text(json.dumps({"loss_method": "scale"}))
    with pytest.raises(ResumeMismatchError, match="loss_method: 'scale' -> 'vanilla'"):
        _claim(_config(tmp_path / "run", resume_from_checkpoint="true"), {"loss_method": "vanilla"})
    config = _config(tmp_path / "run", resume_from_checkpoint="true")
    with claim_output_dir(config, {"loss_method": "scale"}):
        assert config.resume_from_checkpoint == str(checkpoint)
