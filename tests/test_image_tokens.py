"""Image tokens counted from image sizes equal what the full processor puts into ``input_ids``, for each family,
tiny and at the published checkpoints' settings; the cheap image check still catches truncated files."""

import io

import datasets
import pytest
from PIL import Image
from transformers import (
    AutoProcessor,
    Gemma3ImageProcessor,
    Gemma3ImageProcessorPil,
    Gemma3Processor,
    LlavaNextImageProcessor,
    LlavaNextProcessor,
    LlavaProcessor,
    Qwen2_5_VLProcessor,
    Qwen2VLImageProcessor,
    Qwen2VLImageProcessorPil,
    Qwen2VLVideoProcessor,
)

from scale_sft.data.format import assistant_message, cot_completion, render_sample, user_message
from scale_sft.data.image_tokens import expanded_length, image_placeholders, read_image_size
from scale_sft.models.tiny import make_tiny_model

ARCHS = ("qwen2_5_vl", "gemma3", "llava_next")
# (height, width): landscape, portrait, 5:1, the smallest Qwen image, a large photo, an odd-sized portrait
SIZES = [(480, 640), (640, 480), (200, 1000), (56, 56), (1500, 2000), (777, 333)]
LLAVA_PINPOINTS = [[336, 672], [672, 336], [672, 672], [1008, 336], [336, 1008]]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("image_tokens")
    return {arch: AutoProcessor.from_pretrained(make_tiny_model(root / arch, arch=arch)) for arch in ARCHS}


def real_settings(arch: str, tiny_processor, pil_backend: bool = False):
    """The tiny tokenizer and template with the published checkpoint's image processor settings."""
    tokenizer, template = tiny_processor.tokenizer, tiny_processor.chat_template
    if arch == "qwen2_5_vl":  # Qwen2.5-VL-*-Instruct: patch 14, merge 2, the default pixel limits
        image_class = Qwen2VLImageProcessorPil if pil_backend else Qwen2VLImageProcessor
        return Qwen2_5_VLProcessor(
            image_processor=image_class(min_pixels=3136, max_pixels=12845056, patch_size=14, merge_size=2),
            tokenizer=tokenizer,
            video_processor=Qwen2VLVideoProcessor(),
            chat_template=template,
        )
    if arch == "gemma3":  # gemma-3-*-it: SigLIP at 896 px, 256 tokens per image
        image_class = Gemma3ImageProcessorPil if pil_backend else Gemma3ImageProcessor
        image_processor = image_class(
            size={"height": 896, "width": 896}, image_mean=[0.5] * 3, image_std=[0.5] * 3
        )
        return Gemma3Processor(image_processor, tokenizer, chat_template=template, image_seq_length=256)
    # llava-v1.6-mistral-7b-hf: CLIP ViT-L/14 at 336 px, five pinpoints, CLS dropped
    return LlavaNextProcessor(
        image_processor=LlavaNextImageProcessor(
            size={"shortest_edge": 336},
            crop_size={"height": 336, "width": 336},
            image_grid_pinpoints=LLAVA_PINPOINTS,
        ),
        tokenizer=tokenizer,
        patch_size=14,
        vision_feature_select_strategy="default",
        chat_template=template,
        num_additional_image_tokens=1,
    )


def rendered(processor, num_images: int) -> str:
    messages = [
        user_message("How many shapes are there?", num_images),
        assistant_message(cot_completion("I count the red ones, then the blue ones.", "3")),
    ]
    return render_sample(processor, messages)[0]


def assert_matches_processor(processor, sizes, **options):
    """The size-only count equals the full processor's: total length and image tokens per image."""
    text = rendered(processor, len(sizes))
    images = [Image.new("RGB", (width, height), "white") for height, width in sizes]
    ids = processor(images=images, text=[text], add_special_tokens=False, **options)["input_ids"][0]
    assert expanded_length(processor, text, sizes, **options) == len(ids)
    image_ids = set(processor.image_token_ids)
    per_image = [
        sum(i in image_ids for i in processor.tokenizer(p, add_special_tokens=False)["input_ids"])
        for p in image_placeholders(processor, sizes, **options)
    ]
    assert sum(per_image) == sum(i in image_ids for i in ids)
    return per_image


@pytest.mark.integration
@pytest.mark.parametrize("arch", ARCHS)
def test_tiny_models(arch, tiny):
    for size in SIZES:
        assert_matches_processor(tiny[arch], [size])
    assert_matches_processor(tiny[arch], SIZES[:2])


@pytest.mark.integration
@pytest.mark.parametrize("arch", ARCHS)
def test_published_settings(arch, tiny):
    processor = real_settings(arch, tiny[arch])
    counts = [assert_matches_processor(processor, [size])[0] for size in SIZES]
    assert_matches_processor(processor, [SIZES[2], SIZES[5]])
    if arch == "qwen2_5_vl":
        assert counts[0] == 23 * 17  # 640x480 -> 644x476 -> 23 x 17 merged patches
    if arch == "gemma3":
        assert counts == [256] * len(SIZES)
    if arch == "llava_next":
        assert max(counts) > 2000 and len(set(counts)) > 3  # any-resolution: depends on the aspect ratio


@pytest.mark.integration
@pytest.mark.parametrize("pil_backend", [False, True])
def test_gemma3_pan_and_scan(tiny, pil_backend):
    processor = real_settings("gemma3", tiny["gemma3"], pil_backend)
    counts = [assert_matches_processor(processor, [size], do_pan_and_scan=True)[0] for size in SIZES]
    # 4:3 images get 2 crops; a square one is under the aspect ratio, 1000x200 would give crops under 256 px
    assert counts == [3 * 256, 3 * 256, 256, 256, 3 * 256, 3 * 256]
    # Set on the processor instance instead of per call: the same resolution the processor applies.
    processor.images_kwargs = {**processor.images_kwargs, "do_pan_and_scan": True}
    assert assert_matches_processor(processor, [SIZES[4]])[0] == 3 * 256


@pytest.mark.integration
def test_qwen_pil_backend(tiny):
    processor = real_settings("qwen2_5_vl", tiny["qwen2_5_vl"], pil_backend=True)
    for size in SIZES[:3]:
        assert_matches_processor(processor, [size])


@pytest.mark.integration
def test_unknown_rules_fall_back(tiny):
    tokenizer = tiny["llava_next"].tokenizer
    llava = LlavaProcessor(
        image_processor=LlavaNextImageProcessor(),
        tokenizer=tokenizer,
        patch_size=14,
        num_additional_image_tokens=1,
    )
    odd_crop = LlavaNextProcessor(
        image_processor=LlavaNextImageProcessor(
            size={"shortest_edge": 336}, crop_size={"height": 224, "width": 224}
        ),
        tokenizer=tokenizer,
        patch_size=14,
    )
    for processor in (llava, odd_crop):
        assert image_placeholders(processor, [(480, 640)]) is None
        assert expanded_length(processor, "<image>\nhi", [(480, 640)]) is None
    text = rendered(tiny["qwen2_5_vl"], 0)  # no image: the text alone
    assert expanded_length(tiny["qwen2_5_vl"], text, []) == len(
        tiny["qwen2_5_vl"].tokenizer(text)["input_ids"]
    )


def encoded(fmt: str, size=(640, 480), exif=None) -> bytes:
    buffer = io.BytesIO()
    image = Image.radial_gradient("L").convert("RGB").resize(size)
    image.save(buffer, fmt, **({"exif": exif} if exif is not None else {}))
    return buffer.getvalue()


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_read_image_size(fmt, tmp_path):
    data = encoded(fmt)
    path = tmp_path / f"a.{fmt.lower()}"
    path.write_bytes(data)
    for image in (
        str(path),
        {"bytes": data, "path": None},
        {"bytes": None, "path": str(path)},
        Image.open(path),
    ):
        assert read_image_size(image) == (480, 640)
    for cut in (0.3, 0.9, len(data) - 64):  # down to the last few bytes of compressed pixels
        truncated = data[: int(cut * len(data)) if cut < 1 else cut]
        with pytest.raises(OSError):
            read_image_size({"bytes": truncated, "path": None})
        (tmp_path / "cut").write_bytes(truncated)
        with pytest.raises(OSError):
            read_image_size(str(tmp_path / "cut"))
    with pytest.raises(OSError):
        read_image_size({"bytes": b"not an image", "path": None})
    with pytest.raises(FileNotFoundError):
        read_image_size(str(tmp_path / "missing.png"))


def test_read_image_size_follows_exif_rotation():
    exif = Image.Exif()
    exif[Image.ExifTags.Base.Orientation] = 6  # rotated 90 degrees: decoders swap width and height
    value = {"bytes": encoded("JPEG", exif=exif), "path": None}
    decoded = datasets.Image().decode_example(value)  # what training sees
    assert read_image_size(value) == (decoded.height, decoded.width) == (640, 480)
