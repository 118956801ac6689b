"""ONNX export of a tiny Gemma3 folder: the runtime's greedy tokens equal transformers'
`generate` on inputs made by transformers' own Gemma3Processor from the same folder (prompt,
image, token_type_ids: image tokens attend to each other), on the full model and a variant
whose kept blocks change type positions, single and batched, at prompts longer than twice
the sliding window; the decoder graph's masks equal transformers' reference masks."""

import numpy as np
import pytest
import torch
from gemma3_folders import IMAGE, MM_TOKENS, SLIDING_WINDOW, build_model, image_prompt, pixel_values
from PIL import Image

from vlmprune.export.manifest.variants import VariantSpec, full_variant
from vlmprune.export.models.gemma3 import Gemma3Adapter
from vlmprune.export.models.gemma3_graphs import Gemma3DecoderWithCache
from vlmprune.export.onnx.check import validate_manifest
from vlmprune.runtime import Request, Runtime
from vlmprune.runtime.arch.gemma3 import IMAGE_MARK

# Removing blocks 2 and 3 (full, sliding) leaves sliding, sliding, sliding, full: each kept
# block must keep its own type, window and RoPE after re-indexing.
SPECS = [VariantSpec("generic", "generic", None, (2, 3), 0.01), full_variant()]
SIZES = [(20, 96), (40, 60), (96, 96)]
PROMPTS = ["What color is the circle?", "  Read the code. ", "How many?"]
GREEDY = dict(do_sample=False, temperature=None, top_p=None, top_k=None)
STEPS = 8


@pytest.fixture(scope="module")
def summary(tmp_path_factory, gemma3_vlm):
    from vlmprune.export.onnx.pipeline import run_export
    from vlmprune.export.onnx.settings import ExportSettings

    folder = tmp_path_factory.mktemp("export_gemma3") / "gemma3"
    settings = ExportSettings(
        out=folder,
        manifest=folder / "manifest.json",
        datasets=("shapes_vqa", "code_match"),
        parity_examples=2,
        score_examples=2,
        batch_size=2,
        progress=False,
    )
    return run_export(gemma3_vlm, SPECS, settings, log=lambda _: None)


def _processor(folder):
    from transformers import AutoImageProcessor, AutoTokenizer, Gemma3Processor

    tokenizer = AutoTokenizer.from_pretrained(folder)
    return Gemma3Processor(
        image_processor=AutoImageProcessor.from_pretrained(folder),
        tokenizer=tokenizer,
        image_seq_length=MM_TOKENS,
        chat_template=tokenizer.chat_template,
    )


def _hf_tokens(vlm, processor, removed, image, prompt):
    turn = [{"role": "user", "content": [{"type": "image", "image": image}, {"type": "text", "text": prompt}]}]  # fmt: skip
    inputs = processor.apply_chat_template(
        turn, add_generation_prompt=True, tokenize=True, return_dict=True, return_tensors="pt"
    )
    ours = vlm.arch.prompt_ids(vlm.tokenizer, prompt, vlm.arch.preprocess(image))
    assert inputs["input_ids"][0].tolist() == ours  # the same prompt, token for token
    assert len(ours) >= 2 * SLIDING_WINDOW + MM_TOKENS
    assert inputs["token_type_ids"].sum() == MM_TOKENS
    with torch.no_grad(), vlm.adapter.removed(vlm.model, removed):
        out = vlm.model.generate(
            **inputs, max_new_tokens=STEPS, eos_token_id=list(vlm.eos_ids), **GREEDY
        )
    row = out[0, inputs["input_ids"].shape[1] :].tolist()
    return row[: next((i for i, t in enumerate(row) if t in vlm.eos_ids), len(row))]


def test_runtime_equals_transformers_generate(summary, gemma3_vlm, gemma3_folder):
    processor = _processor(gemma3_folder)
    runtime = Runtime.from_manifest(summary.manifest, max_resident=1)
    rng = np.random.default_rng(3)
    images = [Image.fromarray(rng.integers(0, 256, (*s, 3), dtype=np.uint8)) for s in SIZES]
    assert [v.name for v in runtime.manifest.variants] == ["generic", "full"]
    for variant in runtime.manifest.variants:
        expected = [
            _hf_tokens(gemma3_vlm, processor, variant.removed_blocks, im, p)
            for im, p in zip(images, PROMPTS, strict=True)
        ]
        assert any(len(t) > 2 for t in expected)
        requests = [Request(im, p, variant.name) for im, p in zip(images, PROMPTS, strict=True)]
        batch = runtime.generate_batch(requests, max_new_tokens=STEPS)  # left-padded
        single = [runtime.generate(r.image, r.prompt, r.task_hint, max_new_tokens=STEPS) for r in requests]  # fmt: skip
        assert [list(r.tokens) for r in batch] == expected, variant.name
        assert [list(r.tokens) for r in single] == expected, variant.name
    parity = {o.spec.name: o.parity for o in summary.result.written}
    assert all(p.passed and p.identical == p.n for p in parity.values())
    assert max(p.prefill_max_abs_diff for p in parity.values()) < 1e-4
    assert validate_manifest(summary.manifest) == []
    assert "Gemma3" in summary.genai["skipped"]


@pytest.mark.parametrize("removed", [(), (2,), (0, 5)])
def test_graph_masks_equal_transformers_with_token_type_ids(removed):
    """Gemma3DecoderWithCache (what is traced) against Gemma3ForConditionalGeneration's
    forward with token_type_ids, at 19 positions (window 4), as one prefill and as a short
    prefill followed by single steps (the image inside the prefill)."""
    model, adapter = build_model(), Gemma3Adapter()
    text = [3 + (7 * j) % 100 for j in range(3 * SLIDING_WINDOW)]
    rows = [image_prompt(text), image_prompt(text[:-2])]
    width = max(map(len, rows))
    ids = torch.tensor([[0] * (width - len(r)) + r for r in rows])
    mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows])
    types = (ids == IMAGE).long()
    with torch.no_grad(), adapter.removed(model, removed):
        ref = model(input_ids=ids, attention_mask=mask, pixel_values=pixel_values(2), token_type_ids=types).logits  # fmt: skip
        causal = model(input_ids=ids, attention_mask=mask, pixel_values=pixel_values(2)).logits
        embeds = adapter.input_embeddings(model, ids, [p.numpy() for p in pixel_values(2)])
        marked = torch.where(types.bool(), IMAGE_MARK, mask)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        graph = Gemma3DecoderWithCache(model)
        past = [torch.zeros(2, 1, 0, 16)] * (2 * graph.num_layers)
        whole = graph(embeds, marked, positions, *past)[0]
        prefix = 12  # the image (positions 3..6 of the longer row) lies inside it
        out = graph(embeds[:, :prefix], marked[:, :prefix], positions[:, :prefix], *past)
        steps, past = [out[0]], out[1:]
        for t in range(prefix, width):
            out = graph(embeds[:, t : t + 1], marked[:, : t + 1], positions[:, t : t + 1], *past)
            steps.append(out[0])
            past = out[1:]
    real = mask.bool()
    assert (causal - ref)[real].abs().max() > 1e-2  # the image tokens' attention matters here
    assert (whole - ref)[real].abs().max() < 1e-5
    assert (torch.cat(steps, dim=1) - ref)[real].abs().max() < 1e-5
