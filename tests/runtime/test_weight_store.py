"""The weight store: one value per stored tensor for every session (on the CPU here; the GPU
measurement is in docs/performance.md). Answers must not change, and no tensor is made twice,
however many variants load, reload and run from many threads."""

import shutil

import onnxruntime as ort
import pytest
from onnxruntime.capi import _pybind_state as C
from PIL import Image

from vlmprune.runtime import Runtime, VariantUnavailableError
from vlmprune.runtime.onnx_tensors import external_initializers
from vlmprune.runtime.profiling.load import LoadConfig, load_test, random_pool
from vlmprune.runtime.weight_store import WeightStore

IMAGE = Image.new("RGB", (8, 8), (200, 30, 40))
HINTS = [None, "vqa", "generic", "code_match", "shapes_vqa"]


def stored_tensors(manifest) -> set:
    """Distinct (file, offset, length, type, shape) over every graph of the export."""
    keys = set()
    for graph in manifest.parent.glob("variants/*.onnx"):
        keys |= {t.key(graph.parent) for t in external_initializers(graph)}
    return keys


def with_store(manifest, max_resident: int = 4) -> Runtime:
    runtime = Runtime.from_manifest(manifest, max_resident=max_resident)
    runtime.sessions.store = WeightStore("cpu")
    return runtime


def test_answers_unchanged_and_each_tensor_made_once(toy_manifest):
    plain, stored = Runtime.from_manifest(toy_manifest), with_store(toy_manifest)
    assert plain.sessions.store is None  # CPU: the memory map already shares
    for hint in ("generic", "shapes_vqa", "code_match"):
        for prompt in ("What color is the circle?", "Read the code in the box."):
            a = plain.generate(IMAGE, prompt, task_hint=hint)
            b = stored.generate(IMAGE, prompt, task_hint=hint)
            assert (a.tokens, a.variant) == (b.tokens, b.variant)
    store = stored.sessions.store
    assert len(store) == len(stored_tensors(toy_manifest))
    assert store.hits > 0  # the variants' decoders share blocks: handed out, not made again
    weights = toy_manifest.parent / "variants" / "weights.bin"
    assert 0 < store.bytes <= weights.stat().st_size


class ScaledStore(WeightStore):
    """Hands out every tensor times 3: if sessions use the store's values, answers move."""

    def _create(self, path, tensor):  # noqa: ANN001, ANN202
        owner, _ = super()._create(path, tensor)
        scaled = ort.OrtValue.ortvalue_from_numpy(owner.numpy() * 3)
        self.kept = [*getattr(self, "kept", []), scaled]  # keep the buffer alive
        return owner, ort.OrtValue(C.OrtValue.from_dlpack(scaled._get_c_value().to_dlpack()))


def test_sessions_compute_with_the_stores_values(toy_manifest):
    """Without this, a store onnxruntime ignored would pass the test above."""
    plain = Runtime.from_manifest(toy_manifest)
    scaled = Runtime.from_manifest(toy_manifest)
    scaled.sessions.store = ScaledStore("cpu")
    prompts = ("What color is the circle?", "Read the code in the box.", "How many squares?")
    a = [plain.generate(IMAGE, p, task_hint="generic").tokens for p in prompts]
    b = [scaled.generate(IMAGE, p, task_hint="generic").tokens for p in prompts]
    assert a != b


def test_many_threads_with_eviction_make_nothing_twice(toy_manifest):
    runtime = with_store(toy_manifest, max_resident=1)
    report = load_test(lambda _: runtime, random_pool(4, 16), HINTS,
                       LoadConfig(threads=4, requests=8, max_new_tokens=3), max_resident=1)  # fmt: skip
    assert report.identical and report.requests == 32 and report.max_resident_seen == 1
    assert len(runtime.sessions.store) == len(stored_tensors(toy_manifest))


def test_a_tensor_past_the_end_of_its_file_is_one_clear_error(toy_manifest, tmp_path):
    variants = toy_manifest.parent / "variants"
    graph = next(variants.glob("decoder_*.onnx"))
    copy = tmp_path / graph.name
    shutil.copy(graph, copy)
    (tmp_path / "weights.bin").write_bytes((variants / "weights.bin").read_bytes()[:1000])
    with pytest.raises(ValueError, match=r"weights\.bin: initializer .* lies past the end"):
        WeightStore("cpu").add_to(ort.SessionOptions(), copy)


def test_the_runtime_reports_the_store_refusal_naming_the_variant(toy_manifest, monkeypatch):
    runtime = with_store(toy_manifest)

    def refuse(self, options, graph):  # noqa: ANN001, ANN202
        raise ValueError(f"{graph}: initializer 'w' lies past the end of the file")

    monkeypatch.setattr(WeightStore, "add_to", refuse)
    with pytest.raises(VariantUnavailableError, match=r"^generic: .*decoder_generic\.onnx"):
        runtime.sessions.decoder("generic")


def test_no_store_where_cuda_is_listed_but_cannot_allocate(monkeypatch):
    """A CPU-only package that lists CUDA (or a machine without a driver): no store, so the
    session itself reports where it runs (a ProviderWarning, or ProviderError with CUDA
    graphs), instead of the store failing on its first tensor."""
    from vlmprune.runtime.sessions import CPU, CUDA, SessionConfig, WeightsMode, default_store

    really = CUDA in ort.get_available_providers()
    cuda = SessionConfig(providers=(CUDA, CPU))
    monkeypatch.setattr(ort, "get_available_providers", lambda: [CPU])
    assert default_store(cuda) is None  # CUDA not available at all
    monkeypatch.setattr(ort, "get_available_providers", lambda: [CUDA, CPU])
    assert (default_store(cuda) is not None) == really  # a CPU package: listed, no store
    assert default_store(SessionConfig(providers=(CUDA,), mode=WeightsMode.FAST)) is None
    assert default_store(SessionConfig()) is None  # CPU: the memory map already shares
