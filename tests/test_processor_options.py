"""Processor options (``--min_pixels``, ``--max_pixels``, ``--do_pan_and_scan``, ``--processor_kwargs``): they
reach the image processor, change the image-token count, are refused where the processor has no such option,
and travel with the processor ``train`` saves."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from scale_sft.cli import main
from scale_sft.models.processor import ProcessorArguments, load_processor


def _image_tokens(processor, image) -> int:
    text = processor.apply_chat_template(
        [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "x"}]}], tokenize=False
    )
    ids = processor(images=[image], text=[text], add_special_tokens=False)["input_ids"][0]
    return list(ids).count(processor.tokenizer.convert_tokens_to_ids("<|image_pad|>"))


def test_max_pixels_changes_the_image_tokens(tiny_qwen_dir):
    image = Image.new("RGB", (448, 448))
    default = load_processor(str(tiny_qwen_dir))
    limited = load_processor(str(tiny_qwen_dir), options={"max_pixels": 56 * 56})
    assert _image_tokens(default, image) == 64  # the tiny model's own limit: 224 x 224 px
    assert _image_tokens(limited, image) == 4  # 56 x 56 px: 2 x 2 merged patches


def test_options_parse_and_unknown_options_are_refused(tiny_qwen_dir):
    args = ProcessorArguments(max_pixels=3136, processor_kwargs='{"min_pixels": 784}')
    assert args.processor_options() == {"max_pixels": 3136, "min_pixels": 784}
    with pytest.raises(ValueError, match="both as a flag"):
        ProcessorArguments(max_pixels=3136, processor_kwargs='{"max_pixels": 1}').processor_options()
    with pytest.raises(ValueError, match="JSON"):
        ProcessorArguments(processor_kwargs="{max_pixels: 1}").processor_options()
    with pytest.raises(ValueError, match="do_pan_and_scan is not an option of Qwen2VLImageProcessor"):
        load_processor(str(tiny_qwen_dir), options={"do_pan_and_scan": True})


def test_train_saves_the_processor_with_its_options(tiny_qwen_dir, synthetic_dir, tmp_path):
    out = tmp_path / "run"
    main(
        ["train", "--model", str(tiny_qwen_dir), "--dataset", str(synthetic_dir), "--output_dir", str(out),
         "--max_steps", "1", "--per_device_train_batch_size", "2", "--save_strategy", "no", "--report_to", "none",
         "--disable_tqdm", "true", "--max_pixels", "3136"]
    )  # fmt: skip
    run = json.loads((out / "run.json").read_text())
    assert run["script_args"]["max_pixels"] == 3136
    saved = json.loads((out / "processor_config.json").read_text())["image_processor"]
    assert saved["size"]["longest_edge"] == 3136
    assert load_processor(str(out)).image_processor.size["longest_edge"] == 3136  # what eval/grpo load


def test_inspect_data_takes_the_options(tiny_qwen_dir, synthetic_dir, capsys):
    main(["inspect-data", "--dataset", str(synthetic_dir), "--model", str(tiny_qwen_dir), "--limit", "4",
          "--max_pixels", "3136"])  # fmt: skip
    assert "4/4 records kept" in capsys.readouterr().out
    with pytest.raises(ValueError, match="not an option"):
        main(["inspect-data", "--dataset", str(synthetic_dir), "--model", str(tiny_qwen_dir),
              "--do_pan_and_scan", "true"])  # fmt: skip


def test_eval_takes_the_options(trained_qwen_dir, synthetic_dir, tmp_path):
    out = tmp_path / "eval"
    main(["eval", "--model", str(trained_qwen_dir), "--data", str(synthetic_dir), "--limit", "2",
          "--max_new_tokens", "4", "--output_dir", str(out), "--max_pixels", "3136"])  # fmt: skip
    assert json.loads((out / "metrics.json").read_text())["run"]["processor_options"] == {"max_pixels": 3136}
