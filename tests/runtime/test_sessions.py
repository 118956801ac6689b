"""Sessions: lazy creation, LRU bound on resident decoders, shared vs fast modes, providers."""

import warnings

import pytest
from PIL import Image

from vlmprune.runtime import ProviderWarning, Runtime
from vlmprune.runtime.sessions import SessionConfig, WeightsMode, session_options

IMAGE = Image.new("RGB", (8, 8), (20, 130, 240))
PROMPT = "How many squares are there?"


def test_sessions_are_lazy(toy_manifest):
    runtime = Runtime.from_manifest(toy_manifest)
    assert runtime.resident_variants == ()
    runtime.select(task_hint="vqa")  # selecting loads nothing
    assert runtime.resident_variants == ()
    runtime.generate(IMAGE, PROMPT, task_hint="vqa")
    assert runtime.resident_variants == ("shapes_vqa",)


def test_lru_evicts_least_recently_used(toy_manifest):
    runtime = Runtime.from_manifest(toy_manifest, max_resident=2)
    pool = runtime.sessions
    first = pool.decoder("generic")
    pool.decoder("shapes_vqa")
    assert pool.decoder("generic") is first  # a hit moves it to the most recent end
    pool.decoder("code_match")  # evicts shapes_vqa, the least recently used
    assert runtime.resident_variants == ("generic", "code_match")
    vision = pool.vision
    pool.decoder("shapes_vqa")  # evicts generic; the shared graphs stay
    assert runtime.resident_variants == ("code_match", "shapes_vqa")
    assert pool.vision is vision
    assert pool.decoder("generic") is not first  # recreated after eviction


def test_max_resident_must_be_positive():
    with pytest.raises(ValueError, match="max_resident must be >= 1"):
        SessionConfig(max_resident=0)


def test_mode_options():
    shared = session_options(SessionConfig(mode=WeightsMode.SHARED))
    fast = session_options(SessionConfig(mode="fast"))
    assert shared.get_session_config_entry("session.disable_prepacking") == "1"
    with pytest.raises(Exception):  # noqa: B017  (onnxruntime: entry not set)
        fast.get_session_config_entry("session.disable_prepacking")


def test_shared_and_fast_modes_give_identical_outputs(toy_manifest):
    shared = Runtime.from_manifest(toy_manifest, share_weights=True)
    fast = Runtime.from_manifest(toy_manifest, share_weights=False)
    assert shared.config.mode is WeightsMode.SHARED and fast.config.mode is WeightsMode.FAST
    for hint in (None, "vqa", "code_match"):
        a = shared.generate(IMAGE, PROMPT, task_hint=hint)
        b = fast.generate(IMAGE, PROMPT, task_hint=hint)
        assert (a.tokens, a.text, a.variant) == (b.tokens, b.text, b.variant)


def test_all_variants_resident_together(toy_manifest):
    runtime = Runtime.from_manifest(toy_manifest, max_resident=3)
    runtime.preload()
    assert set(runtime.resident_variants) == {"generic", "shapes_vqa", "code_match"}


def test_cuda_requested_but_not_in_use_warns(toy_manifest, monkeypatch):
    import onnxruntime as ort

    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("CUDA is available here: the fallback cannot be provoked")
    runtime = Runtime.from_manifest(
        toy_manifest, providers=["CUDAExecutionProvider", "CPUExecutionProvider"]
    )
    with pytest.warns(
        ProviderWarning,
        match="CUDAExecutionProvider requested but not in use: .* runs on CPUExecutionProvider",
    ):
        result = runtime.generate(IMAGE, PROMPT)
    assert result.text is not None
    assert runtime.sessions.active_providers == ("CPUExecutionProvider",)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # said once, not per session
        runtime.generate(IMAGE, PROMPT, task_hint="vqa")


def test_cpu_only_does_not_warn(toy_manifest):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Runtime.from_manifest(toy_manifest, providers="CPUExecutionProvider").generate(
            IMAGE, PROMPT
        )


def test_concurrent_loads_stay_within_the_bound_and_load_once(toy_manifest):
    from concurrent.futures import ThreadPoolExecutor

    runtime = Runtime.from_manifest(toy_manifest, max_resident=2)
    pool = runtime.sessions
    names = ["generic", "shapes_vqa", "code_match"] * 8
    with ThreadPoolExecutor(8) as workers:
        sessions = list(workers.map(pool.decoder, names))
    assert all(s is not None for s in sessions)
    assert pool.max_resident_seen <= 2
    assert len(pool.resident) <= 2
    # Two threads asking for the same variant at once get one session, not two loads.
    pool.release_decoders()
    with ThreadPoolExecutor(8) as workers:
        same = list(workers.map(pool.decoder, ["generic"] * 8))
    assert len({id(s) for s in same}) == 1
