"""The SmolVLM / Idefics3 vision graph in ONNX equals transformers' get_image_features for
images of different tile counts (one graph, dynamic tile axis)."""

import numpy as np
import onnxruntime as ort
import pytest
import torch
from PIL import Image
from smolvlm_folders import IMAGE_SEQ_LEN, KINDS, TILE, tiny_model

from vlmprune.export.models.adapter import GraphSpec
from vlmprune.export.models.smolvlm_graphs import SmolVLMVisionGraph
from vlmprune.export.onnx.graphs import export_graph
from vlmprune.runtime.arch.smolvlm_images import TileSpec, preprocess_image


def _tiles(size, seed=0):
    rng = np.random.default_rng(seed)
    image = Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8))
    return preprocess_image(image, TileSpec(longest_edge=3 * TILE, tile=TILE)).pixels


@pytest.mark.parametrize("kind", KINDS)
def test_vision_graph_equals_get_image_features(kind):
    model = tiny_model(kind)
    module = SmolVLMVisionGraph(model).eval()
    trace = torch.from_numpy(_tiles((40, 90)))  # 2 x 3 tiles + global
    spec = GraphSpec(
        module=module,
        args=(trace,),
        input_names=module.input_names,
        output_names=("image_features",),
        dynamic_axes={"pixel_values": {0: "num_tiles"}, "image_features": {0: "num_tokens"}},
    )
    session = ort.InferenceSession(
        export_graph(spec).SerializeToString(), providers=["CPUExecutionProvider"]
    )
    for size in [(20, 20), (90, 40), (96, 96)]:  # 1, 3 x 2 + 1, 3 x 3 + 1 tiles
        pixels = _tiles(size, seed=1)
        (ours,) = session.run(None, {"pixel_values": pixels})
        with torch.no_grad():
            out = model.model.get_image_features(torch.from_numpy(pixels)[None])
        expected = torch.cat(list(out.pooler_output)).numpy()
        assert ours.shape == (IMAGE_SEQ_LEN * pixels.shape[0], 32)
        np.testing.assert_allclose(ours, expected, rtol=0, atol=1e-5)
