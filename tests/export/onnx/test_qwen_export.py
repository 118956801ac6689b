"""ONNX export of tiny Qwen2.5-VL and Qwen2-VL folders: the vision graph at any image size,
the runtime's answers (gqa layout with MRotaryEmbedding, the default) against transformers'
`generate` on the pruned model for every variant and against the traced layout, and
onnxruntime-genai's folders (Qwen2.5-VL, traced decoders under `--genai`) against the runtime."""

import json
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from vlmprune.export.manifest.variants import VariantSpec
from vlmprune.export.onnx.check import validate_manifest
from vlmprune.runtime import InputError, Request, Runtime

KINDS = ["qwen2_5_vl", "qwen2_vl"]
DATASETS = ("shapes_vqa", "code_match")
SPECS = [
    VariantSpec("generic", "generic", None, (1,), 0.01),
    VariantSpec("code_match", "code_match", "exact_match", (0, 3), 0.02),
]
SIZES = [(224, 280), (96, 96), (90, 700), (300, 451)]
PROMPTS = ["What color is the circle?", "Read the code.", "How many?", "Describe the image."]
GREEDY = dict(do_sample=False, repetition_penalty=1.0, temperature=None, top_p=None, top_k=None)
STEPS = 8


def _images():
    rng = np.random.default_rng(3)
    return [Image.fromarray(rng.integers(0, 256, (*s, 3), dtype=np.uint8)) for s in SIZES]


GENAI = "qwen2_5_vl+genai"  # the Qwen2.5-VL export with --genai: traced decoders


@pytest.fixture(scope="module")
def exports(tmp_path_factory, qwen_vlm):
    """kind (or GENAI) -> (manifest path, export log lines, summary)."""
    from vlmprune.export.onnx.pipeline import run_export
    from vlmprune.export.onnx.settings import ExportSettings, GenaiMode

    out = {}
    for name, kind, mode in [*((k, k, GenaiMode.AUTO) for k in KINDS), (GENAI, KINDS[0], "on")]:
        folder = tmp_path_factory.mktemp("export") / kind
        settings = ExportSettings(
            out=folder,
            manifest=folder / "manifest.json",
            datasets=DATASETS,
            parity_examples=2,
            score_examples=2,
            batch_size=2,
            progress=False,
            genai=GenaiMode(mode),
        )
        lines = []
        summary = run_export(qwen_vlm(kind), SPECS, settings, log=lines.append)
        out[name] = (summary.manifest, lines, summary)
    return out


def _hf_tokens(vlm, removed, image, prompt):
    """transformers' greedy generate on the pruned model, from its own processor inputs."""
    processed = vlm.arch.preprocess(image)
    ids = torch.tensor([vlm.arch.prompt_ids(vlm.tokenizer, prompt, processed)])
    inputs = {
        "input_ids": ids,
        "attention_mask": torch.ones_like(ids),
        "pixel_values": torch.from_numpy(processed.patches),
        "image_grid_thw": torch.tensor([processed.grid]),
        "mm_token_type_ids": (ids == vlm.model.config.image_token_id).int(),
    }
    with torch.no_grad(), vlm.adapter.removed(vlm.model, removed):
        vlm.model.model.rope_deltas = None
        out = vlm.model.generate(
            **inputs, max_new_tokens=STEPS, eos_token_id=list(vlm.eos_ids), **GREEDY
        )
    row = out[0, ids.shape[1] :].tolist()
    return row[: next((i for i, t in enumerate(row) if t in vlm.eos_ids), len(row))]


@pytest.mark.parametrize("kind", KINDS)
def test_vision_graph_serves_every_image_size(exports, qwen_vlm, kind):
    vlm = qwen_vlm(kind)
    runtime = Runtime.from_manifest(exports[kind][0])
    images = [vlm.arch.preprocess(im) for im in _images()]
    ours = vlm.arch.image_features(runtime.sessions.vision, images)  # one call, 4 segments
    with torch.no_grad():
        vlm.model.model.rope_deltas = None
        out = vlm.model.model.get_image_features(
            torch.from_numpy(np.concatenate([im.patches for im in images])),
            torch.tensor([im.grid for im in images]),
        )
    expected = torch.cat(list(out.pooler_output)).numpy()
    assert ours.shape == expected.shape
    assert np.abs(ours - expected).max() < 1e-5


@pytest.mark.parametrize("kind", KINDS)
def test_runtime_equals_transformers_generate_on_every_variant(exports, qwen_vlm, kind):
    vlm = qwen_vlm(kind)
    manifest, _, summary = exports[kind]
    runtime = Runtime.from_manifest(manifest, max_resident=1)
    images = _images()
    for variant in runtime.manifest.variants:
        expected = [
            _hf_tokens(vlm, variant.removed_blocks, im, p)
            for im, p in zip(images, PROMPTS, strict=True)
        ]
        requests = [
            Request(im, p, task_hint=variant.name) for im, p in zip(images, PROMPTS, strict=True)
        ]
        batch = runtime.generate_batch(requests, max_new_tokens=STEPS)  # left-padded, mixed sizes
        single = [
            runtime.generate(r.image, r.prompt, r.task_hint, max_new_tokens=STEPS) for r in requests
        ]
        assert [list(r.tokens) for r in batch] == expected, variant.name
        assert [list(r.tokens) for r in single] == expected, variant.name
    parity = {o.spec.name: o.parity for o in summary.result.written}
    assert all(p.passed and p.identical == p.n for p in parity.values())
    assert validate_manifest(manifest) == []


def test_genai_folders_generate_the_runtime_tokens(exports):
    og = pytest.importorskip("onnxruntime_genai", reason="onnxruntime-genai is not installed")
    from vlmprune.export.onnx.genai import generate

    manifest, _, summary = exports[GENAI]
    runtime = Runtime.from_manifest(manifest)
    assert summary.genai["folders"] == len(SPECS) and summary.genai["hard_linked"]
    assert summary.genai["extra_bytes"] < 100_000  # its JSON files and small graphs only
    for variant in runtime.manifest.variants:
        folder = variant.genai_dir
        assert (folder / "weights.bin").samefile(runtime.manifest.shared.weights.path)
        model = og.Model(str(folder))
        processor = model.create_multimodal_processor()
        for i, (image, prompt) in enumerate(zip(_images(), PROMPTS, strict=True)):
            path = folder.parent / f"check-{i}.png"
            image.save(path)
            ours = runtime.generate(image, prompt, variant.name, max_new_tokens=STEPS)
            theirs = generate(og, model, processor, ours.prompt_text, path)
            stop = next(
                (j for j, t in enumerate(theirs) if t in runtime.manifest.generation.stop_ids), None
            )
            assert theirs[:stop] == list(ours.tokens), (variant.name, SIZES[i])


def test_qwen2_vl_skips_genai_with_the_reason(exports, qwen_vlm):
    from vlmprune.export.onnx.genai import plan
    from vlmprune.export.onnx.settings import GenaiMode

    manifest, _, summary = exports["qwen2_vl"]
    reason = "no 'qwen2_vl' model type (its model builder refuses Qwen2VLForConditionalGeneration: builder.py:806 NotImplementedError)"
    assert reason in summary.genai["skipped"]
    assert all(v.genai_dir is None for v in Runtime.from_manifest(manifest).manifest.variants)
    assert reason in plan(qwen_vlm("qwen2_vl"), GenaiMode.ON).skipped


def test_prompt_longer_than_the_context_is_one_input_error(exports):
    runtime = Runtime.from_manifest(exports["qwen2_5_vl"][0])
    big = Image.new("RGB", (2000, 2000), (10, 200, 30))  # 5,041 image tokens > 4,096 positions
    with pytest.raises(
        InputError, match=r"the prompt is \d+ tokens with the image; the model's context is 4096"
    ):
        runtime.generate(big, "What is it?")


def test_genai_flag_without_the_package_is_one_clear_error(qwen_vlm, monkeypatch):
    from vlmprune.export.onnx.genai import plan
    from vlmprune.export.onnx.settings import ExportError, GenaiMode

    monkeypatch.setitem(sys.modules, "onnxruntime_genai", None)  # import raises ImportError
    with pytest.raises(ExportError, match=r"--genai: onnxruntime-genai is not installed"):
        plan(qwen_vlm("qwen2_5_vl"), GenaiMode.ON)
    assert plan(qwen_vlm("qwen2_5_vl"), GenaiMode.AUTO).spec is None


@pytest.mark.parametrize("kind", KINDS)
def test_m_rope_decoders_default_to_gqa_with_position_ids(exports, kind):
    from vlmprune.runtime.decoders import DecoderLayout

    manifest, _, summary = exports[kind]
    assert summary.result.layout is DecoderLayout.GQA
    assert json.loads(manifest.read_text())["model"]["decoder_layout"] == "gqa"
    runtime = Runtime.from_manifest(manifest)
    session = runtime.sessions.decoder(runtime.manifest.variants[0].name)
    inputs = {i.name: i for i in session.get_inputs()}
    assert inputs["position_ids"].shape[0] == 3 and "attention_mask" not in inputs
    if kind == "qwen2_5_vl":  # gqa: onnxruntime-genai cannot feed seqlens_k, so no folders
        assert "does not feed the gqa decoder's seqlens_k" in summary.genai["skipped"]


def test_gqa_and_traced_layouts_generate_the_same_tokens(exports):
    """A left-padded batch of four prompts of different lengths (mixed image sizes)."""
    from vlmprune.runtime.decoders import DecoderLayout

    assert exports[GENAI][2].result.layout is DecoderLayout.TRACED  # --genai alone: traced
    gqa, traced = (Runtime.from_manifest(exports[k][0]) for k in (KINDS[0], GENAI))
    requests = [Request(im, p) for im, p in zip(_images(), PROMPTS, strict=True)]
    for variant in gqa.manifest.variants:
        batch = [Request(r.image, r.prompt, task_hint=variant.name) for r in requests]
        ours = gqa.generate_batch(batch, max_new_tokens=STEPS)
        theirs = traced.generate_batch(batch, max_new_tokens=STEPS)
        assert [r.tokens for r in ours] == [r.tokens for r in theirs], variant.name


def test_genai_with_the_gqa_layout_is_one_clear_error(qwen_vlm, tmp_path):
    from vlmprune.export.onnx.genai import fit_layout, plan
    from vlmprune.export.onnx.settings import ExportError, ExportSettings, GenaiMode
    from vlmprune.runtime.decoders import DecoderLayout

    vlm = qwen_vlm("qwen2_5_vl")
    settings = ExportSettings(
        tmp_path, tmp_path / "m.json", DATASETS, genai=GenaiMode.ON, layout=DecoderLayout.GQA
    )
    with pytest.raises(ExportError, match="--genai with --decoder-layout gqa: .*seqlens_k"):
        fit_layout(vlm, plan(vlm, GenaiMode.ON), settings)
