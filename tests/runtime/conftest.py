"""A toy export built with onnx.helper: the runtime's tests need no torch and no exporter.

The graphs follow docs/contracts.md (names, shapes, one 64 KiB-aligned external weights
file shared by every graph, each tensor stored once) but compute something trivial:

    vision_encoder  pixel_values (B, 3, 8, 8) -> reshape (B, 4, 48) @ Wv -> (B, 4, H)
    embed_tokens    input_ids (B, T) -> E[input_ids] (B, T, H)
    decoder         per kept block b: k = h @ Wk_b; present = concat(past, k); h += tanh(mean(present))
                    logits = h @ Wout

so the answers depend on the image, the prompt, the KV cache and the variant's blocks.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

H = 8  # hidden size = head_dim, one kv head
S = 8  # image side; 3*8*8 = 192 values = 4 patches of 48
N_IMG = 4
NUM_BLOCKS = 4
ALIGN = 64 * 1024
SPECIALS = ["<pad>", "<s>", "</s>", "<unk>", "<image>"]
WORDS = (
    "user assistant : ? . what color is the circle square red blue green how many are there "
    "read code in box sign say describe image a b c d which shape option answer with letter "
    "price of tea receipt total write caption"
).split()
VARIANTS = {  # name -> (objective, task type, removed blocks)
    "generic": ("generic", None, [1]),
    "shapes_vqa": ("shapes_vqa", "vqa", [2]),
    "code_match": ("code_match", "exact_match", [0]),
}
DATASET_TO_VARIANT = {
    "shapes_vqa": "shapes_vqa",
    "count_vqa": "shapes_vqa",
    "code_match": "code_match",
}
TASK_TYPE_TO_VARIANT = {"vqa": "shapes_vqa", "exact_match": "code_match"}
DETECTOR_SAMPLES = [
    ("What color is the circle?", "vqa"),
    ("How many squares are there?", "vqa"),
    ("Which shape is red?", "vqa"),
    ("Read the code in the box.", "exact_match"),
    ("What code is in the box?", "exact_match"),
    ("Type the code in the box exactly.", "exact_match"),
    ("Describe the image.", "captioning"),
    ("Write a caption.", "captioning"),
]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class _Weights:
    """Writes tensors into one file at 64 KiB-aligned offsets, each distinct tensor once."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.blob = bytearray()
        self.seen: dict[str, tuple[int, int]] = {}

    def tensor(self, name: str, array: np.ndarray):
        from onnx import TensorProto

        data = np.ascontiguousarray(array, dtype=np.float32).tobytes()
        key = hashlib.sha256(data).hexdigest()
        if key not in self.seen:
            offset = -(-len(self.blob) // ALIGN) * ALIGN
            self.blob.extend(b"\0" * (offset - len(self.blob)))
            self.blob.extend(data)
            self.seen[key] = (offset, len(data))
        offset, length = self.seen[key]
        t = TensorProto(name=name, data_type=TensorProto.FLOAT, dims=list(array.shape))
        t.data_location = TensorProto.EXTERNAL
        for k, v in (
            ("location", self.path.name),
            ("offset", str(offset)),
            ("length", str(length)),
        ):
            entry = t.external_data.add()
            entry.key, entry.value = k, v
        return t

    def save(self) -> None:
        self.path.write_bytes(bytes(self.blob))


def _save(graph, path: Path) -> None:
    import onnx
    from onnx import helper

    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save_model(model, str(path))  # initializers already point into weights.bin


def _vision(w: _Weights, rng: np.random.Generator):
    from onnx import TensorProto, helper

    shape = helper.make_tensor("vshape", TensorProto.INT64, [3], [0, N_IMG, 3 * S * S // N_IMG])
    return helper.make_graph(
        [
            helper.make_node("Reshape", ["pixel_values", "vshape"], ["patches"]),
            helper.make_node("MatMul", ["patches", "Wv"], ["image_features"]),
        ],
        "vision_encoder",
        [helper.make_tensor_value_info("pixel_values", TensorProto.FLOAT, ["batch", 3, S, S])],
        [helper.make_tensor_value_info("image_features", TensorProto.FLOAT, ["batch", N_IMG, H])],
        [w.tensor("Wv", rng.normal(0, 0.3, (3 * S * S // N_IMG, H))), shape],
    )


def _embed(w: _Weights, table: np.ndarray):
    from onnx import TensorProto, helper

    return helper.make_graph(
        [helper.make_node("Gather", ["E", "input_ids"], ["inputs_embeds"], axis=0)],
        "embed_tokens",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "seq"])],
        [helper.make_tensor_value_info("inputs_embeds", TensorProto.FLOAT, ["batch", "seq", H])],
        [w.tensor("E", table)],
    )


def _decoder(w: _Weights, name: str, kept: list[int], block_w: list[np.ndarray], w_out: np.ndarray):
    from onnx import TensorProto, helper

    f = TensorProto.FLOAT
    inputs = [
        helper.make_tensor_value_info("inputs_embeds", f, ["batch", "seq", H]),
        helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "total"]),
        helper.make_tensor_value_info("position_ids", TensorProto.INT64, ["batch", "seq"]),
    ]
    outputs = [helper.make_tensor_value_info("logits", f, ["batch", "seq", "vocab"])]
    nodes, inits, h = [], [w.tensor("Wout", w_out)], "inputs_embeds"
    inits.append(helper.make_tensor("one", TensorProto.INT64, [1], [1]))
    for i, block in enumerate(kept):
        for kind in ("key", "value"):
            inputs.append(
                helper.make_tensor_value_info(
                    f"past_key_values.{i}.{kind}", f, ["batch", 1, "past", H]
                )
            )
            outputs.append(
                helper.make_tensor_value_info(f"present.{i}.{kind}", f, ["batch", 1, "total", H])
            )
        inits.append(w.tensor(f"Wk{block}", block_w[block]))
        nodes += [
            helper.make_node("MatMul", [h, f"Wk{block}"], [f"k{i}"]),
            helper.make_node("Unsqueeze", [f"k{i}", "one"], [f"k4_{i}"]),
            helper.make_node(
                "Concat", [f"past_key_values.{i}.key", f"k4_{i}"], [f"present.{i}.key"], axis=2
            ),
            helper.make_node(
                "Concat", [f"past_key_values.{i}.value", f"k4_{i}"], [f"present.{i}.value"], axis=2
            ),
            helper.make_node("ReduceMean", [f"present.{i}.key"], [f"m{i}"], axes=[2], keepdims=1),
            helper.make_node("Squeeze", [f"m{i}", "one"], [f"ctx{i}"]),
            helper.make_node("Tanh", [f"ctx{i}"], [f"t{i}"]),
            helper.make_node("Add", [h, f"t{i}"], [f"h{i}"]),
        ]
        h = f"h{i}"
    nodes.append(helper.make_node("MatMul", [h, "Wout"], ["logits"]))
    return helper.make_graph(nodes, f"decoder_{name}", inputs, outputs, inits)


def _tokenizer(path: Path) -> list[str]:
    from tokenizers import Tokenizer, models, pre_tokenizers

    vocab = {tok: i for i, tok in enumerate([*SPECIALS, *WORDS])}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.add_special_tokens(SPECIALS)
    tokenizer.save(str(path))
    return list(vocab)


def build_toy_export(root: Path, with_detector: bool = True) -> Path:
    """Write variants/ and manifest.json under `root`; return the manifest's path."""
    import onnx  # noqa: F401  (fail early and clearly if the builder extra is missing)

    out = root / "variants"
    out.mkdir(parents=True)
    vocab = _tokenizer(out / "tokenizer.json")
    rng = np.random.default_rng(0)
    w = _Weights(out / "weights.bin")
    table = rng.normal(0, 1.0, (len(vocab), H))
    block_w = [rng.normal(0, 0.5, (H, H)) for _ in range(NUM_BLOCKS)]
    w_out = rng.normal(0, 1.0, (H, len(vocab)))
    _save(_vision(w, rng), out / "vision_encoder.onnx")
    _save(_embed(w, table), out / "embed_tokens.onnx")
    variants = []
    for name, (objective, task_type, removed) in VARIANTS.items():
        kept = [b for b in range(NUM_BLOCKS) if b not in removed]
        _save(_decoder(w, name, kept, block_w, w_out), out / f"decoder_{name}.onnx")
        variants.append(
            {
                "name": name,
                "objective": objective,
                "task_type": task_type,
                "removed_blocks": removed,
                "kept_blocks": kept,
                "files": [
                    {
                        "path": f"variants/decoder_{name}.onnx",
                        "sha256": sha256(out / f"decoder_{name}.onnx"),
                    }
                ],
                "scores": {},
                "expected_drop": 0.01,
                "latency": None,
            }
        )
    w.save()
    ref = lambda p: {"path": f"variants/{p}", "sha256": sha256(out / p)}  # noqa: E731
    manifest = {
        "schema_version": 1,
        "model": {"id": "toy", "hash": "0" * 64, "architecture": "llava", "num_blocks": NUM_BLOCKS},
        "preprocessing": {
            "image_size": S,
            "image_mean": [0.5, 0.5, 0.5],
            "image_std": [0.25, 0.25, 0.25],
            "image_token": "<image>",
            "num_image_tokens": N_IMG,
            "prompt_template": "<s> user : {image} {prompt} assistant :",
            "tokenizer_file": "variants/tokenizer.json",
            "tokenizer_sha256": sha256(out / "tokenizer.json"),
            "image_token_id": SPECIALS.index("<image>"),
        },
        "generation": {
            "eos_token_id": 2,
            "pad_token_id": 0,
            "max_new_tokens": 6,
            "context_length": 64,
        },
        "shared": {
            "weights": ref("weights.bin"),
            "vision_encoder": ref("vision_encoder.onnx"),
            "embed_tokens": ref("embed_tokens.onnx"),
        },
        "default_variant": "generic",
        "variants": variants,
        "dataset_to_variant": DATASET_TO_VARIANT,
        "task_type_to_variant": TASK_TYPE_TO_VARIANT,
        "provenance": {"tool_version": "test"},
    }
    if with_detector:
        from vlmprune.export.manifest.detector import DetectorFitConfig, fit_detector

        manifest["task_detector"] = fit_detector(
            DetectorFitConfig(min_count=1, steps=150, per_type=400, validation_per_type=150),
            DETECTOR_SAMPLES,
        ).to_dict()
    path = root / "manifest.json"
    path.write_text(json.dumps(manifest, indent=1))
    return path


@pytest.fixture(scope="session")
def toy_export_master(tmp_path_factory) -> Path:
    return build_toy_export(tmp_path_factory.mktemp("toy_export"))


@pytest.fixture
def toy_manifest(toy_export_master, tmp_path) -> Path:
    """A private copy of the toy export (tests may tamper with it); the manifest's path."""
    root = tmp_path / "export"
    shutil.copytree(toy_export_master.parent, root)
    return root / "manifest.json"


def edit_manifest(path: Path, change) -> Path:
    """Apply `change(dict)` to the manifest at `path` in place; return the path."""
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))
    return path
