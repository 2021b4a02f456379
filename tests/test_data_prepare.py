"""``prepare_dataset`` on image paths that would hang or cost too much: decided, and counted, before training."""

import os
import threading

import datasets
from helpers import png
from PIL import Image

from scale_sft.data.format import assistant_message, user_message
from scale_sft.data.prepare import prepare_dataset


def _records(paths):
    return datasets.Dataset.from_list(
        [
            {"id": str(i), "messages": [user_message("Q?"), assistant_message("<think>a</think><answer>b</answer>")],
             "images": [str(p)]}
            for i, p in enumerate(paths)
        ]
    )  # fmt: skip


def test_a_fifo_image_is_a_counted_skip_not_a_hang(tmp_path, qwen_processor):
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    paths = [png(tmp_path / "ok.png", "red"), fifo, tmp_path]  # a FIFO and a folder
    result = {}
    worker = threading.Thread(
        target=lambda: result.update(out=prepare_dataset(_records(paths), qwen_processor))
    )
    worker.start()
    worker.join(timeout=60)
    if worker.is_alive():  # the check opened the FIFO: unblock it, then fail
        with open(fifo, "wb"):
            pass
        worker.join()
        raise AssertionError("checking a FIFO image blocked")
    kept, report = result["out"]
    assert report.kept == 1 and report.skipped == {"image not a regular file": 2}


def test_images_over_max_image_pixels_are_a_counted_skip(tmp_path, qwen_processor):
    small = png(tmp_path / "small.png", "red")  # 56 x 56
    large = tmp_path / "large.png"
    Image.new("RGB", (200, 100), "blue").save(large)
    kept, report = prepare_dataset(_records([small, large]), qwen_processor, max_image_pixels=200 * 100 - 1)
    assert report.kept == 1 and report.skipped == {"image over max_image_pixels": 1}
    assert kept[0]["id"] == "0"
    _, report = prepare_dataset(_records([small, large]), qwen_processor, max_image_pixels=200 * 100)
    assert report.kept == 2
