"""SmolVLM / Idefics3 vision graph on the tiny in-process models (tests/smolvlm_folders.py):
export time, graph bytes, and the largest |ONNX - transformers get_image_features| over
images of 1 to 10 tiles. The figures in docs/models/smolvlm.md.

    python benchmarks/smolvlm_vision.py
"""

import sys
import time

sys.path.insert(0, "tests")
import numpy as np
import onnxruntime as ort
import torch
from PIL import Image
from smolvlm_folders import KINDS, TILE, tiny_model

from vlmprune.export.models.adapter import GraphSpec
from vlmprune.export.models.smolvlm_graphs import SmolVLMVisionGraph
from vlmprune.export.onnx.graphs import export_graph
from vlmprune.runtime.arch.smolvlm_images import TileSpec, preprocess_image


def tiles(size, seed):
    im = Image.fromarray(np.random.default_rng(seed).integers(0, 256, (*size, 3), dtype=np.uint8))
    return preprocess_image(im, TileSpec(longest_edge=3 * TILE, tile=TILE)).pixels


for kind in KINDS:
    model = tiny_model(kind)
    m = SmolVLMVisionGraph(model).eval()
    spec = GraphSpec(
        m,
        (torch.from_numpy(tiles((40, 90), 0)),),
        m.input_names,
        ("image_features",),
        {"pixel_values": {0: "n"}, "image_features": {0: "t"}},
    )
    t0 = time.perf_counter()
    proto = export_graph(spec)
    dt = time.perf_counter() - t0
    data = proto.SerializeToString()
    s = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    worst = 0.0
    for size in [(20, 20), (90, 40), (96, 96), (300, 451)]:
        px = tiles(size, 1)
        (o,) = s.run(None, {"pixel_values": px})
        with torch.no_grad():
            e = torch.cat(
                list(model.model.get_image_features(torch.from_numpy(px)[None]).pooler_output)
            ).numpy()
        worst = max(worst, float(np.abs(o - e).max()))
    print(
        f"{kind}: vision graph export {dt:.2f} s, {len(data)} bytes, max |onnx - torch| = {worst:.3g}"
    )
