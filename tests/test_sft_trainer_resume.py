"""``scale-sft train`` when runs are resumed, checkpoints damaged, disks full or settings absurd: each is a
refusal that says what is wrong, before the expensive work where it can be, never a silent mixed run."""

import errno
import json
from collections import namedtuple

import pytest
import torch
import transformers

from scale_sft.checkpoints import CheckpointError, DiskSpaceError, checkpoint_problem
from scale_sft.cli import main
from scale_sft.nonfinite import NonFiniteError
from scale_sft.run_dir import ResumeMismatchError

QUIET = ["--report_to", "none", "--disable_tqdm", "true", "--logging_steps", "1"]


def _train(model, data, out, *flags):
    main(["train", "--model", str(model), "--dataset", str(data), "--output_dir", str(out),
          "--per_device_train_batch_size", "2", *QUIET, *flags])  # fmt: skip


@pytest.fixture(scope="module")
def two_checkpoints(tiny_qwen_dir, synthetic_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("resume") / "run"
    _train(tiny_qwen_dir, synthetic_dir, out, "--max_steps", "2", "--save_steps", "1")
    return out


@pytest.mark.parametrize(
    ("flags", "difference"),
    [
        (["--loss_method", "vanilla"], "loss_method: 'scale' -> 'vanilla'"),
        (["--answer_weight_schedule", "linear"], "answer_weight_schedule: 'cosine' -> 'linear'"),
        (["--answer_weight_end", "0.9"], "answer_weight_end: 0.8 -> 0.9"),
        (["--learning_rate", "1e-3"], r"learning_rate: [\d.e-]+ -> 0\.001"),
    ],
)
def test_resume_with_other_settings_is_refused(
    two_checkpoints, tiny_qwen_dir, synthetic_dir, flags, difference
):
    before = sorted(p.name for p in two_checkpoints.iterdir())
    with pytest.raises(ResumeMismatchError, match=difference):
        _train(tiny_qwen_dir, synthetic_dir, two_checkpoints, "--max_steps", "2", "--save_steps", "1",
               "--resume_from_checkpoint", str(two_checkpoints / "checkpoint-1"), *flags)  # fmt: skip
    assert sorted(p.name for p in two_checkpoints.iterdir()) == before


def test_half_written_checkpoint_names_the_file_and_the_last_good_one(tiny_qwen_dir, synthetic_dir, tmp_path):
    out = tmp_path / "run"
    _train(tiny_qwen_dir, synthetic_dir, out, "--max_steps", "3", "--save_steps", "1")
    weights = out / "checkpoint-3" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-100])  # the save was cut short
    resume = [tiny_qwen_dir, synthetic_dir, out, "--max_steps", "3", "--save_steps", "1"]
    with pytest.raises(
        CheckpointError, match=r"model\.safetensors is \d+ bytes.*last complete checkpoint is .*checkpoint-2"
    ):
        _train(*resume, "--resume_from_checkpoint", str(out / "checkpoint-3"))
    _train(*resume, "--resume_from_checkpoint", "true")  # the last complete one: checkpoint-2
    run = json.loads((out / "run.json").read_text())
    assert run["global_step"] == 3 and run["config"]["resume_from_checkpoint"] == str(out / "checkpoint-2")
    assert checkpoint_problem(out / "checkpoint-3") is None  # saved again, whole


def test_consecutive_nonfinite_skips_stop_the_run(tiny_qwen_dir, synthetic_dir, tmp_path):
    out = tmp_path / "diverged"
    with pytest.raises(NonFiniteError, match="Step 3: 2 steps in a row"):
        _train(tiny_qwen_dir, synthetic_dir, out, "--max_steps", "8", "--learning_rate", "1e6", "--nonfinite",
               "skip", "--nonfinite_max_consecutive", "2", "--save_strategy", "no")  # fmt: skip


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ({"max_steps": 0}, "trains nothing"),
        ({"per_device_train_batch_size": 0}, "per_device_train_batch_size must be a whole number"),
        ({"per_device_train_batch_size": 2.7}, "per_device_train_batch_size must be a whole number"),
        ({"max_image_pixels": -1}, "max_image_pixels must be a positive"),
    ],
)
def test_absurd_counts_are_refused_before_loading(tmp_path, setting, message):
    config = tmp_path / "run.yaml"
    config.write_text("".join(f"{k}: {v}\n" for k, v in setting.items()))
    with pytest.raises(ValueError, match=message):  # the model does not exist: nothing was loaded
        main(["train", "--config", str(config), "--model", str(tmp_path / "no-model"), "--dataset",
              str(tmp_path / "no-data"), "--output_dir", str(tmp_path / "out"), *QUIET])  # fmt: skip


def test_too_little_disk_space_is_refused_before_training(
    tiny_qwen_dir, synthetic_dir, tmp_path, monkeypatch
):
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr("scale_sft.checkpoints.shutil.disk_usage", lambda path: usage(2**30, 2**30, 1000))
    with pytest.raises(DiskSpaceError, match=r"has 0\.00 GiB free; a checkpoint and the final model"):
        _train(tiny_qwen_dir, synthetic_dir, tmp_path / "run", "--max_steps", "2", "--save_steps", "1")
    assert not (tmp_path / "run" / "checkpoint-1").exists()


def test_disk_full_at_a_checkpoint_says_disk(tiny_qwen_dir, synthetic_dir, tmp_path, monkeypatch):
    save = torch.save

    def full_at_step_2(obj, path, *args, **kwargs):
        if "checkpoint-2" in str(path):  # torch's C++ writer on a full disk
            raise RuntimeError("[enforce fail at inline_container.cc:664] . unexpected pos 4096 vs 4032")
        return save(obj, path, *args, **kwargs)

    monkeypatch.setattr(torch, "save", full_at_step_2)
    out = tmp_path / "run"
    with pytest.raises(
        DiskSpaceError,
        match=r"checkpoint-2 failed: the disk is full.*last complete checkpoint is .*checkpoint-1",
    ):
        _train(tiny_qwen_dir, synthetic_dir, out, "--max_steps", "3", "--save_steps", "1")


def test_disk_full_at_the_final_save_says_disk(tiny_qwen_dir, synthetic_dir, tmp_path, monkeypatch):
    out = tmp_path / "run"
    save_model = transformers.Trainer.save_model

    def full_at_the_end(self, output_dir=None, _internal_call=False):
        if output_dir == str(out):
            raise OSError(errno.ENOSPC, "No space left on device")
        return save_model(self, output_dir, _internal_call)

    monkeypatch.setattr(transformers.Trainer, "save_model", full_at_the_end)
    with pytest.raises(DiskSpaceError, match=r"Saving .*run failed: the disk is full.*checkpoint-2"):
        _train(tiny_qwen_dir, synthetic_dir, out, "--max_steps", "2", "--save_steps", "1")
