"""The runtime on a real export of the tiny random LLaVA (vlmprune.export.onnx.pipeline).

A CI-sized sample of issue 6's parity requirement: for every variant, the runtime's greedy
answers equal the PyTorch pruned model's (export/evaluation/evaluate.py), one request at a time and
in left-padded batches of prompts with different lengths.
"""

import json

import pytest
from test_no_torch import BLOCKED, run_blocked
from tiny_export import export_variants

from vlmprune.runtime import Reason, Request, Runtime

DATASETS = ("shapes_vqa", "code_match", "option_mcq")
N_PER_DATASET = 6


@pytest.fixture(scope="module")
def tiny_export(tmp_path_factory, tiny_vlm):
    from vlmprune.export.manifest.detector import DetectorFitConfig, fit_task_detector
    from vlmprune.export.manifest.variants import VariantSpec

    out = tmp_path_factory.mktemp("tiny_export") / "tiny"
    specs = [
        VariantSpec("generic", "generic", None, (1,), 0.01),
        VariantSpec("shapes_vqa", "shapes_vqa", "vqa", (2,), 0.01),
        VariantSpec("code_match", "code_match", "exact_match", (0, 3), 0.02),
    ]
    detector = fit_task_detector(
        DetectorFitConfig(prompts_per_dataset=200, steps=150, per_type=400, validation_per_type=150)
    )
    return export_variants(tiny_vlm, out, specs, DATASETS, examples=4, task_detector=detector)


@pytest.fixture(scope="module")
def examples():
    from vlmprune.export.tasks.catalog import get_dataset

    return {name: list(get_dataset(name).examples("test", N_PER_DATASET)) for name in DATASETS}


@pytest.fixture(scope="module")
def torch_answers(tiny_vlm, tiny_export, examples):
    """(variant, dataset) -> PyTorch greedy answers, and the evaluator's max_new_tokens."""
    from vlmprune.export.evaluation.evaluate import Evaluator
    from vlmprune.export.tasks.catalog import get_dataset

    evaluator = Evaluator(tiny_vlm, batch_size=4)
    answers, steps = {}, {}
    for dataset in DATASETS:
        prepared = evaluator.prepare(get_dataset(dataset), "test", N_PER_DATASET)
        steps[dataset] = prepared.max_new_tokens
        for variant in Runtime.from_manifest(tiny_export).manifest.variants:
            answers[variant.name, dataset] = evaluator.predictions(prepared, variant.removed_blocks)
    return answers, steps


def test_runtime_equals_pytorch_on_every_variant(tiny_export, examples, torch_answers):
    expected, steps = torch_answers
    runtime = Runtime.from_manifest(tiny_export, max_resident=2)
    for variant in runtime.manifest.variant_names:
        for dataset, exs in examples.items():
            single = [
                runtime.generate(
                    e.image, e.prompt, task_hint=variant, max_new_tokens=steps[dataset]
                ).text
                for e in exs
            ]
            batch = runtime.generate_batch(
                [Request(e.image, e.prompt, task_hint=variant) for e in exs],
                max_new_tokens=steps[dataset],
            )
            assert single == expected[variant, dataset], (variant, dataset)
            assert [r.text for r in batch] == expected[variant, dataset], (variant, dataset)


def test_mixed_batch_equals_single_requests(tiny_export, examples):
    runtime = Runtime.from_manifest(tiny_export)
    exs = [e for dataset in DATASETS for e in examples[dataset][:3]]
    hints = [
        None,
        "vqa",
        "code_match",
        "exact_match",
        "shapes_vqa",
        None,
        "option_mcq",
        "generic",
        "vqa",
    ]
    requests = [Request(e.image, e.prompt, task_hint=h) for e, h in zip(exs, hints, strict=True)]
    batch = runtime.generate_batch(requests, max_new_tokens=6)
    single = [
        runtime.generate(r.image, r.prompt, task_hint=r.task_hint, max_new_tokens=6)
        for r in requests
    ]
    assert [(r.variant, r.tokens) for r in batch] == [(r.variant, r.tokens) for r in single]
    assert {len(r.prompt) for r in requests} != 1  # prompts of different lengths: padding is real


def test_selection_on_the_real_manifest(tiny_export):
    runtime = Runtime.from_manifest(tiny_export)
    assert runtime.select().variant == "generic"
    assert runtime.select(task_hint="shapes_vqa").variant == "shapes_vqa"
    assert runtime.select(task_hint="exact_match").variant == "code_match"
    s = runtime.select(task_hint="option_mcq")  # a dataset without its own variant
    assert s.variant == "generic" and s.reason is Reason.DATASET_HINT
    detected = runtime.select(prompt="Read the code in the box exactly.", detect=True)
    assert (detected.variant, detected.reason) == ("code_match", Reason.DETECTED)


def test_shared_and_fast_identical_on_real_export(tiny_export, examples):
    shared = Runtime.from_manifest(tiny_export, share_weights=True)
    fast = Runtime.from_manifest(tiny_export, share_weights=False)
    for e in examples["shapes_vqa"][:2]:
        for hint in (None, "vqa", "code_match"):
            a = shared.generate(e.image, e.prompt, task_hint=hint, max_new_tokens=6)
            b = fast.generate(e.image, e.prompt, task_hint=hint, max_new_tokens=6)
            assert a.tokens == b.tokens


def test_one_weight_store_for_every_variant_identical_on_real_export(tiny_export, examples):
    """The fused graphs (GroupQueryAttention, SkipSimplifiedLayerNorm) take every external
    weight from one store (the CUDA mode's mechanism, run on the CPU here): same answers, and
    each stored tensor made once for all variants."""
    from vlmprune.runtime.onnx_tensors import external_initializers
    from vlmprune.runtime.weight_store import WeightStore

    plain = Runtime.from_manifest(tiny_export, max_resident=3)
    stored = Runtime.from_manifest(tiny_export, max_resident=3)
    stored.sessions.store = store = WeightStore("cpu")
    for e in examples["shapes_vqa"][:2] + examples["code_match"][:2]:
        for hint in stored.manifest.variant_names:
            a = plain.generate(e.image, e.prompt, task_hint=hint, max_new_tokens=6)
            b = stored.generate(e.image, e.prompt, task_hint=hint, max_new_tokens=6)
            assert a.tokens == b.tokens, hint
    graphs = list(tiny_export.parent.glob("*.onnx"))
    per_graph = [{t.key(g.parent) for t in external_initializers(g)} for g in graphs]
    assert len(store) == len(set().union(*per_graph)) < sum(map(len, per_graph))
    assert store.bytes <= (tiny_export.parent / "weights.bin").stat().st_size


def test_real_export_runs_without_torch(tiny_export, tmp_path, examples):
    image = tmp_path / "example.png"
    example = examples["shapes_vqa"][0]
    example.image.save(image)
    code = f"""
import json
from vlmprune.runtime import Runtime
runtime = Runtime.from_manifest(sys.argv[1])
out = [runtime.generate(sys.argv[2], sys.argv[3], task_hint=h, max_new_tokens=6) for h in (None, "vqa")]
print(json.dumps({{"results": [[r.variant, r.text] for r in out],
                  "blocked": sorted(m for m in sys.modules if m.partition(".")[0] in {BLOCKED!r})}}))
"""
    out = run_blocked(code, str(tiny_export), str(image), example.prompt)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    expected = Runtime.from_manifest(tiny_export).generate(
        example.image, example.prompt, max_new_tokens=6
    )
    assert data["results"][0] == ["generic", expected.text]
    assert data["results"][1][0] == "shapes_vqa" and data["blocked"] == []


def test_concurrent_load_equals_requests_run_alone(tiny_export, examples):
    """8 threads x 50 requests over random hints (and detection) and images, the LRU bound
    below the number of variants: no error, every answer equal to the same request run alone,
    never more decoders resident than the bound (vlmprune.runtime.profiling.load)."""
    from vlmprune.runtime.profiling.load import LoadConfig, load_test

    pool = [e for rows in examples.values() for e in rows]
    hints = [None, "vqa", "exact_match", "generic", "code_match", "shapes_vqa"]
    report = load_test(
        lambda bound: Runtime.from_manifest(tiny_export, max_resident=bound),
        pool,
        hints,
        LoadConfig(threads=8, requests=50, max_new_tokens=4),
        max_resident=2,
    )
    assert len(report.variants_asked) == 3  # every variant is asked for
    assert report.errors == () and report.mismatches == 0
    assert report.requests == 400 and report.identical
    assert report.max_resident_seen <= 2


def test_profile_decode_steps_gqa_decoders_as_the_runtime_decodes(tiny_export):
    """benchmarks/profile_decode.py on a gqa export: its prefill on the KV buffer predicts the
    runtime's own first token for the same request, and a timed step runs."""
    import importlib.util
    from pathlib import Path

    import numpy as np

    from vlmprune.runtime.arch.llava import merge_image_features
    from vlmprune.runtime.generation import greedy_decode
    from vlmprune.runtime.profiling.config import ProfileConfig
    from vlmprune.runtime.profiling.profiler import Profiler

    path = Path(__file__).resolve().parents[2] / "benchmarks" / "profile_decode.py"
    spec = importlib.util.spec_from_file_location("profile_decode", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    profiler = Profiler.open(tiny_export, ProfileConfig(prompt_tokens=6, new_tokens=2),
                             verify=False)  # fmt: skip
    s, r = profiler.runtime.sessions, profiler.request
    features = s.vision.run(["image_features"], {"pixel_values": r.pixels})[0]
    embeds = s.embed.run(["inputs_embeds"], {"input_ids": r.input_ids})[0]
    merged = merge_image_features(embeds, r.input_ids, features, profiler.manifest.image_token_id)
    positions = np.clip(np.cumsum(r.mask, -1) - 1, 0, None)
    for name in profiler.manifest.variant_names:
        v = bench.prepare(profiler, name)
        assert "buffer" in v  # the gqa path, not the traced feeds
        alone = greedy_decode(s.decoder(name), s.embed, merged, r.mask, positions, -1, 1)
        assert v["ids"][:, 0].tolist() == [int(t[0]) for t in alone.tokens], name
        assert bench.time_step(v) > 0 and bench.time_prefill(v) > 0
