"""Gemma3's numpy image processor equals transformers' `Gemma3ImageProcessorPil`."""

import numpy as np
import pytest
from PIL import Image
from transformers.models.gemma3.image_processing_pil_gemma3 import Gemma3ImageProcessorPil

from vlmprune.export.errors import ModelLoadError
from vlmprune.export.models.gemma3 import image_spec
from vlmprune.runtime.arch.gemma3_vision import ImageSpec, preprocess_image

CONFIGS = [
    {},  # the class defaults (224 x 224)
    {"size": {"height": 896, "width": 896}, "image_mean": [0.5] * 3, "image_std": [0.5] * 3},
    {"size": {"height": 32, "width": 32}, "image_mean": [0.48, 0.45, 0.4], "resample": 3},
    {"size": {"height": 48, "width": 64}, "rescale_factor": 0.5 / 255},
]
SIZES = [(1, 1), (7, 300), (300, 7), (32, 32), (33, 31), (224, 224), (480, 640), (1000, 999)]


def _image(rng, size, mode):
    h, w = size
    channels = {"RGB": 3, "RGBA": 4, "L": 1}[mode]
    data = rng.integers(0, 256, (h, w, channels), dtype=np.uint8)
    return Image.fromarray(data[..., 0] if channels == 1 else data, mode=mode)


@pytest.mark.parametrize("config", CONFIGS)
def test_preprocessing_equals_transformers_on_many_sizes(config, tmp_path):
    reference = Gemma3ImageProcessorPil(**config)
    spec = image_spec(tmp_path, {"size": dict(reference.size), **config})
    rng = np.random.default_rng(0)
    for size in SIZES:
        for mode in ("RGB", "RGBA", "L"):
            image = _image(rng, size, mode)
            expected = reference(image, return_tensors="np")["pixel_values"][0]
            ours = preprocess_image(image, spec)
            assert ours.dtype == np.float32 and ours.shape == expected.shape, (size, mode)
            np.testing.assert_allclose(ours, expected, rtol=0, atol=1e-6, err_msg=f"{size} {mode}")


def test_the_release_defaults_are_the_class_defaults(tmp_path):
    reference = Gemma3ImageProcessorPil(size={"height": 896, "width": 896})
    spec = image_spec(tmp_path, {})
    assert spec == ImageSpec()
    assert (spec.height, spec.width) == (reference.size.height, reference.size.width)
    assert spec.resample == int(reference.resample)
    assert spec.image_mean == tuple(reference.image_mean)


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"do_pan_and_scan": True}, "do_pan_and_scan"),
        ({"do_resize": False}, "do_resize"),
        ({"size": {"shortest_edge": 896}}, "not a Gemma3 image processor config"),
    ],
)
def test_unsupported_processor_configs_are_one_line(tmp_path, config, field):
    with pytest.raises(ModelLoadError) as err:
        image_spec(tmp_path, config)
    assert "preprocessor_config.json" in str(err.value) and field in str(err.value)
    assert "\n" not in str(err.value)
