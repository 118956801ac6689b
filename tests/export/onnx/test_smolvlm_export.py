"""ONNX export of tiny SmolVLM and Idefics3 folders: the runtime's greedy tokens equal
transformers' `generate` on inputs made by transformers' own processor from the same folder
(prompt + image), on the full model and a pruned variant, single and batched."""

import numpy as np
import pytest
import torch
from PIL import Image
from smolvlm_folders import CHAT_TEMPLATES, IMAGE_SEQ_LEN, KINDS

from vlmprune.export.manifest.variants import VariantSpec, full_variant
from vlmprune.export.models.chat_template import user_turn
from vlmprune.export.onnx.check import validate_manifest
from vlmprune.runtime import Request, Runtime

SPECS = [VariantSpec("generic", "generic", None, (1,), 0.01), full_variant()]
SIZES = [(20, 96), (40, 90), (96, 96)]  # 1 x 3 tiles + global; 2 x 3 + 1; 3 x 3 + 1
PROMPTS = ["What color is the circle?", "Read the code.", "How many?"]
GREEDY = dict(do_sample=False, temperature=None, top_p=None, top_k=None)
STEPS = 8


def _images():
    rng = np.random.default_rng(3)
    return [Image.fromarray(rng.integers(0, 256, (*s, 3), dtype=np.uint8)) for s in SIZES]


@pytest.fixture(scope="module")
def exports(tmp_path_factory, smolvlm_vlm):
    """kind -> ExportSummary."""
    from vlmprune.export.onnx.pipeline import run_export
    from vlmprune.export.onnx.settings import ExportSettings

    out = {}
    for kind in KINDS:
        folder = tmp_path_factory.mktemp(f"export_{kind}") / kind
        settings = ExportSettings(
            out=folder,
            manifest=folder / "manifest.json",
            datasets=("shapes_vqa", "code_match"),
            parity_examples=2,
            score_examples=2,
            batch_size=2,
            progress=False,
        )
        out[kind] = run_export(smolvlm_vlm(kind), SPECS, settings, log=lambda _: None)
    return out


def _processor(folder, kind):
    """transformers' Idefics3Processor on the folder's tokenizer and image processor (SmolVLM's
    expands the prompt the same way but needs torchvision for its video processor)."""
    from transformers import AutoImageProcessor, AutoTokenizer, Idefics3Processor

    return Idefics3Processor(
        image_processor=AutoImageProcessor.from_pretrained(folder),
        tokenizer=AutoTokenizer.from_pretrained(folder),
        image_seq_len=IMAGE_SEQ_LEN,
        chat_template=CHAT_TEMPLATES[kind],
    )


def _hf_tokens(vlm, processor, removed, image, prompt):
    text = processor.apply_chat_template(user_turn(prompt), add_generation_prompt=True)
    inputs = processor(text=[text], images=[[image]], return_tensors="pt")
    ours = vlm.arch.prompt_ids(vlm.tokenizer, prompt, vlm.arch.preprocess(image))
    assert inputs["input_ids"][0].tolist() == ours  # the same prompt, token for token
    with torch.no_grad(), vlm.adapter.removed(vlm.model, removed):
        out = vlm.model.generate(
            **inputs, max_new_tokens=STEPS, eos_token_id=list(vlm.eos_ids), **GREEDY
        )
    row = out[0, inputs["input_ids"].shape[1] :].tolist()
    return row[: next((i for i, t in enumerate(row) if t in vlm.eos_ids), len(row))]


@pytest.mark.parametrize("kind", KINDS)
def test_runtime_equals_transformers_generate(exports, smolvlm_vlm, smolvlm_folder, kind):
    vlm, summary = smolvlm_vlm(kind), exports[kind]
    processor = _processor(smolvlm_folder(kind), kind)
    runtime = Runtime.from_manifest(summary.manifest, max_resident=1)
    images = _images()
    assert [v.name for v in runtime.manifest.variants] == ["generic", "full"]
    for variant in runtime.manifest.variants:
        expected = [
            _hf_tokens(vlm, processor, variant.removed_blocks, im, p)
            for im, p in zip(images, PROMPTS, strict=True)
        ]
        assert any(len(t) > 2 for t in expected)  # answers long enough to compare
        requests = [Request(im, p, variant.name) for im, p in zip(images, PROMPTS, strict=True)]
        batch = runtime.generate_batch(requests, max_new_tokens=STEPS)  # left-padded, 4-10 tiles
        single = [runtime.generate(r.image, r.prompt, r.task_hint, max_new_tokens=STEPS) for r in requests]  # fmt: skip
        assert [list(r.tokens) for r in batch] == expected, variant.name
        assert [list(r.tokens) for r in single] == expected, variant.name
    parity = {o.spec.name: o.parity for o in summary.result.written}
    assert all(p.passed and p.identical == p.n for p in parity.values())
    assert validate_manifest(summary.manifest) == []


def test_no_genai_folder_and_the_export_says_why(exports):
    for kind in KINDS:
        skipped = exports[kind].genai["skipped"]
        assert "onnxruntime-genai 0.18 has no smolvlm or idefics3 model type" in skipped
        assert "builder.py:806" in skipped
        manifest = Runtime.from_manifest(exports[kind].manifest).manifest
        assert all(v.genai_dir is None for v in manifest.variants)
