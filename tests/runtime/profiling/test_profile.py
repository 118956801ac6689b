"""`vlmprune.runtime.profiling.profiler` on the toy export: statistics, report keys, bad input, the
manifest's latency field, and `select(..., max_latency_ms=X)`. No torch anywhere."""

import json
import math
from dataclasses import replace
from types import SimpleNamespace

import pytest
from conftest import edit_manifest
from test_no_torch import BLOCKED, run_blocked

from vlmprune.runtime import (
    InputError,
    LatencyBudgetError,
    ManifestError,
    Reason,
    Runtime,
    VariantUnavailableError,
)
from vlmprune.runtime.manifest import load_manifest
from vlmprune.runtime.profiling.latency import write_latency
from vlmprune.runtime.profiling.profiler import (
    ProfileConfig,
    Profiler,
    RunTiming,
    Schedule,
    synthetic_request,
)
from vlmprune.runtime.profiling.report import (
    STATISTICS,
    TIMINGS,
    Stats,
    choose_baseline,
    ideal_speedup,
)
from vlmprune.runtime.select import select

FAST = ProfileConfig(runs=2, warmup=0, prompt_tokens=3, new_tokens=3)
REPORT_KEYS = {"provider", "device", "variants"}
VARIANT_KEYS = {
    "name",
    "removed_blocks",
    "ttft_ms",
    "decode_ms_per_token",
    "tokens_per_s",
    "speedup_vs_full",
    "ideal_speedup",
}


def test_stats_percentiles_and_mean():
    s = Stats.of([5.0, 1.0, 4.0, 2.0, 3.0])
    assert (s.p50, s.mean) == (3.0, 3.0)
    assert s.p90 == pytest.approx(4.6) and s.p99 == pytest.approx(4.96)
    assert s.p50 <= s.p90 <= s.p95 <= s.p99
    assert list(s.to_json()) == list(STATISTICS)
    assert Stats.of([7.0]).to_json() == dict.fromkeys(STATISTICS, 7.0)
    with pytest.raises(ValueError):
        Stats.of([])


def test_run_timing_derived_values():
    run = RunTiming(vision_ms=2.0, prefill_ms=8.0, decode_ms=30.0, new_tokens=4, batch=2)
    assert run.ttft_ms == 10.0 and run.request_ms == 40.0
    assert run.decode_ms_per_token == 10.0  # 3 decode steps after the prefill's token
    assert run.tokens_per_s == 200.0  # 2 rows, one token each per 10 ms


def test_ideal_speedup_formula():
    assert ideal_speedup(24, 0) == 1.0
    assert ideal_speedup(24, 4) == pytest.approx(24 / 20)
    assert ideal_speedup(14, 3, baseline_removed=1) == pytest.approx(13 / 11)


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("runs", 0, "runs must be an integer >= 1, not 0"),
        ("runs", -3, "runs must be an integer >= 1"),
        ("warmup", -1, "warmup must be an integer >= 0"),
        ("prompt_tokens", 0, "prompt_tokens must be an integer >= 1"),
        ("new_tokens", 1, "new_tokens must be an integer >= 2, not 1 \\(the first token"),
        ("new_tokens", 0, "new_tokens must be an integer >= 2"),
        ("batch", 0, "batch must be an integer >= 1"),
    ],
)
def test_config_refuses_bad_numbers(field, value, message):
    with pytest.raises(InputError, match=message):
        ProfileConfig(**{field: value})


def test_synthetic_request_shape_and_context(toy_manifest):
    runtime = Runtime.from_manifest(toy_manifest)
    request = synthetic_request(runtime.manifest, runtime.tokenizer, replace(FAST, batch=2))
    assert request.pixels.shape == (2, 3, 8, 8) and request.input_ids.shape[0] == 2
    image_id = runtime.manifest.image_token_id
    assert (request.input_ids == image_id).sum(axis=1).tolist() == [4, 4]
    # toy template: "<s> user : {image} {prompt} assistant :" -> 3 + 4 + 3 text + 2 tokens
    assert request.prompt_length == 3 + 4 + 3 + 2
    with pytest.raises(InputError, match="exceeds the model's context of 64 tokens"):
        synthetic_request(
            runtime.manifest, runtime.tokenizer, ProfileConfig(prompt_tokens=100, new_tokens=2)
        )
    with pytest.raises(InputError, match=r"\+ 60 new tokens exceeds the model's context"):
        synthetic_request(
            runtime.manifest, runtime.tokenizer, ProfileConfig(prompt_tokens=3, new_tokens=60)
        )


@pytest.fixture
def report(toy_manifest):
    return Profiler.open(toy_manifest, FAST).run()


def test_report_json_keys_and_ordering(report):
    data = report.to_json()
    assert REPORT_KEYS <= set(data)
    assert data["provider"] == "CPUExecutionProvider" and "cores" in data["device"]
    assert [v["name"] for v in data["variants"]] == ["generic", "shapes_vqa", "code_match"]
    for v in data["variants"]:
        assert VARIANT_KEYS <= set(v)
        for key in TIMINGS:
            stats = v[key]
            assert list(stats) == list(STATISTICS)
            assert 0 < stats["p50"] <= stats["p90"] <= stats["p95"] <= stats["p99"]
        assert v["peak_rss_mib"] > 0 and v["gpu_memory_mib"] is None
    json.dumps(data)  # serialisable as is


def test_baseline_and_ideal_in_report(report):
    # The toy export has no unpruned variant: the least pruned (first of the ties) is the
    # baseline, and the ideal is (N - 1) / (N - k) = 1 for the other one-block variants.
    assert report.baseline.name == "generic" and "no unpruned variant" in report.baseline.why
    base = report.variant("generic")
    assert base.speedup_vs_full == 1.0 and base.ideal_speedup == 1.0
    for v in report.variants:
        decode = v.timings["decode_ms_per_token"].p50
        assert v.speedup_vs_full == pytest.approx(base.timings["decode_ms_per_token"].p50 / decode)
        assert v.ideal_speedup == pytest.approx((4 - 1) / (4 - len(v.removed_blocks)))


def test_choose_baseline_prefers_full_then_unpruned():
    def m(*variants):
        return SimpleNamespace(
            variants=[SimpleNamespace(name=n, removed_blocks=r) for n, r in variants]
        )

    assert choose_baseline(m(("generic", (4,)), ("full", ()))).name == "full"
    unpruned = choose_baseline(m(("generic", (4,)), ("everything", ())))
    assert unpruned.name == "everything" and "unpruned" in unpruned.why
    least = choose_baseline(m(("a", (1, 2)), ("b", (3,))))
    assert (least.name, least.removed_blocks) == ("b", (3,))


def test_selected_variants_and_baseline_always_measured(toy_manifest):
    report = Profiler.open(toy_manifest, FAST).run(["code_match"])
    assert [v.name for v in report.variants] == ["generic", "code_match"]
    with pytest.raises(VariantUnavailableError, match="no variant 'nope'"):
        Profiler.open(toy_manifest, FAST).run(["nope"])


def test_interleaved_schedule(toy_manifest):
    config = replace(FAST, schedule=Schedule.INTERLEAVED)
    report = Profiler.open(toy_manifest, config).run()
    assert report.peak_rss_scope == "all variants resident together"
    assert {v.peak_rss_mib for v in report.variants} == {report.variants[0].peak_rss_mib}
    assert report.to_json()["schedule"] == "interleaved"


def test_cuda_unavailable_is_an_error(toy_manifest, monkeypatch):
    from vlmprune.runtime.profiling import profiler as profile

    monkeypatch.setattr(profile.ort, "get_available_providers", lambda: ["CPUExecutionProvider"])
    with pytest.raises(profile.ProviderUnavailableError, match="CUDA is not available"):
        Profiler.open(toy_manifest, FAST, provider="cuda")
    # Listed but not loadable (what get_available_providers does on a CPU-only machine with
    # a broken GPU wheel): refused once the session shows what it really runs on.
    monkeypatch.setattr(
        profile.ort,
        "get_available_providers",
        lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"],
    )
    with pytest.raises(profile.ProviderUnavailableError, match="requested but onnxruntime runs on"):
        Profiler.open(toy_manifest, FAST, provider="cuda")


# --- --write-manifest ------------------------------------------------------------------


def test_write_latency_changes_only_latency(toy_manifest, report):
    before = json.loads(toy_manifest.read_text())
    write_latency(report)
    after = json.loads(toy_manifest.read_text())
    for old, new in zip(before["variants"], after["variants"], strict=True):
        entry = new.pop("latency")["CPUExecutionProvider"]
        old.pop("latency")
        assert old == new
        assert entry["provider"] == "CPUExecutionProvider" and entry["device"] == report.device
        assert entry["request_ms"]["p90"] > 0 and entry["new_tokens"] == FAST.new_tokens
    before.pop("variants"), after.pop("variants")
    assert before == after
    manifest = load_manifest(toy_manifest)  # the runtime still reads it
    assert set(manifest.variant("generic").latency) == {"CPUExecutionProvider"}
    # another provider's measurement is added beside, not over, this one
    write_latency(replace(report, provider="CUDAExecutionProvider", device="NVIDIA H100"))
    latency = load_manifest(toy_manifest).variant("generic").latency
    assert set(latency) == {"CPUExecutionProvider", "CUDAExecutionProvider"}
    assert latency["CUDAExecutionProvider"]["device"] == "NVIDIA H100"
    assert not list(toy_manifest.parent.glob(".manifest.json.*"))  # no temp file left


# --- select(..., max_latency_ms=X) -------------------------------------------------------

LATENCY_P90 = {"generic": 10.0, "shapes_vqa": 20.0, "code_match": 5.0}
SCORES = {  # variant -> dataset -> test score
    "generic": {"shapes_vqa": 0.80, "code_match": 0.70},
    "shapes_vqa": {"shapes_vqa": 0.90, "code_match": 0.50},
    "code_match": {"shapes_vqa": 0.60, "code_match": 0.75},
}


def _with_latency(path, latency=LATENCY_P90, scores=SCORES, provider="CPUExecutionProvider"):
    def change(data):
        for v in data["variants"]:
            v["scores"] = scores.get(v["name"], {})
            if v["name"] in latency:
                entry = {"provider": provider, "device": "test CPU",
                         "request_ms": {"p50": latency[v["name"]] - 1, "p90": latency[v["name"]]}}  # fmt: skip
                v["latency"] = {provider: entry}

    return load_manifest(edit_manifest(path, change))


def test_budget_keeps_the_rules_choice_when_it_fits_and_is_best(toy_manifest):
    manifest = _with_latency(toy_manifest)
    s = select(manifest, task_hint="vqa", max_latency_ms=25)
    assert (s.variant, s.reason, s.latency_ms) == ("shapes_vqa", Reason.TASK_TYPE_HINT, 20.0)
    assert "within the latency budget: 20.0 ms <= 25 ms (p90 request" in s.message


def test_budget_replaces_a_variant_that_is_too_slow(toy_manifest):
    manifest = _with_latency(toy_manifest)
    s = select(manifest, task_hint="vqa", max_latency_ms=15)
    # shapes_vqa (20 ms) is too slow; of generic (10 ms) and code_match (5 ms), generic
    # scores higher on the vqa datasets (shapes_vqa: 0.80 vs 0.60)
    assert (s.variant, s.reason) == ("generic", Reason.LATENCY_BUDGET)
    assert s.before_budget.variant == "shapes_vqa" and s.hint == "vqa"
    assert "most accurate for task type 'vqa' (shapes_vqa)" in s.message
    assert "mean test score 0.800" in s.message and "the rules chose 'shapes_vqa'" in s.message
    # the task decides what "most accurate" means: for code_match, code_match wins at 5 ms
    s = select(manifest, task_hint="code_match", max_latency_ms=15)
    assert (s.variant, s.reason) == ("code_match", Reason.DATASET_HINT)
    # no task known: mean over all datasets -> generic 0.75 beats code_match 0.675
    assert select(manifest, max_latency_ms=12).variant == "generic"
    assert select(manifest, max_latency_ms=8).variant == "code_match"


def test_budget_with_detection(toy_manifest):
    manifest = _with_latency(toy_manifest)
    s = select(manifest, prompt="Read the code in the box.", detect=True, max_latency_ms=6)
    assert s.variant == "code_match" and s.detection is not None


def test_budget_without_scores_prefers_the_rules_choice(toy_manifest):
    manifest = _with_latency(toy_manifest, scores={})
    s = select(manifest, task_hint="code_match", max_latency_ms=100)
    assert (s.variant, s.reason) == ("code_match", Reason.DATASET_HINT)
    s = select(manifest, task_hint="vqa", max_latency_ms=15)  # shapes_vqa too slow
    assert s.reason is Reason.LATENCY_BUDGET and "no scores" in s.message


def test_no_variant_fits(toy_manifest):
    manifest = _with_latency(toy_manifest)
    with pytest.raises(
        LatencyBudgetError,
        match=r"no variant meets max_latency_ms=1: the fastest, 'code_match', takes 5\.0 ms "
        r"\(p90 request, CPUExecutionProvider on test CPU\)",
    ):
        select(manifest, task_hint="vqa", max_latency_ms=1)


def test_unmeasured_variants_are_not_candidates(toy_manifest):
    manifest = _with_latency(toy_manifest, latency={"shapes_vqa": 20.0})
    with pytest.raises(LatencyBudgetError, match="not measured on CPUExecutionProvider: generic"):
        select(manifest, max_latency_ms=10)


def test_no_latency_measured(toy_manifest):
    with pytest.raises(LatencyBudgetError, match="has a latency measured on CPUExecutionProvider"):
        select(load_manifest(toy_manifest), max_latency_ms=100)
    manifest = _with_latency(toy_manifest)  # measured on CPU only
    with pytest.raises(
        LatencyBudgetError, match="measured on CUDAExecutionProvider; run `vlmprune"
    ):
        select(manifest, max_latency_ms=100, provider="CUDAExecutionProvider")


@pytest.mark.parametrize("budget", [0, -5, math.nan, math.inf, "10", True])
def test_bad_budget(toy_manifest, budget):
    with pytest.raises(InputError, match="max_latency_ms must be a positive number"):
        select(_with_latency(toy_manifest), max_latency_ms=budget)


def test_malformed_latency_entry(toy_manifest):
    def change(data):
        data["variants"][1]["latency"] = {"CPUExecutionProvider": {"request_ms": {"p90": "fast"}}}

    manifest = load_manifest(edit_manifest(toy_manifest, change))
    with pytest.raises(ManifestError, match=r"variants\[1\]\.latency\.CPUExecutionProvider"):
        select(manifest, max_latency_ms=10)


def test_runtime_generate_within_budget(toy_manifest):
    _with_latency(toy_manifest)
    runtime = Runtime.from_manifest(toy_manifest)
    assert runtime.select(task_hint="vqa", max_latency_ms=15).variant == "generic"
    from PIL import Image

    result = runtime.generate(Image.new("RGB", (8, 8)), "What color?", "vqa", max_latency_ms=15)
    assert (result.variant, result.reason) == ("generic", Reason.LATENCY_BUDGET)


def test_profile_then_budget_round_trip(toy_manifest, report):
    write_latency(report)
    manifest = load_manifest(toy_manifest)
    slowest = max(v.timings["request_ms"].p90 for v in report.variants)
    assert select(manifest, task_hint="vqa", max_latency_ms=slowest * 2).variant == "shapes_vqa"
    with pytest.raises(LatencyBudgetError):
        select(manifest, max_latency_ms=1e-6)


# --- the command without torch ---------------------------------------------------------

CLI_SCRIPT = """
from vlmprune.export.cli import main
sys.argv = ["vlmprune", *sys.argv[1:]]
try:
    main()
finally:
    loaded = sorted(m for m in sys.modules if m.partition(".")[0] in BLOCKED)
    print("BLOCKED_LOADED", loaded, file=sys.stderr)
"""


def test_profile_command_without_torch(toy_manifest):
    args = ["profile", "--manifest", str(toy_manifest), "--runs", "2", "--warmup", "0"]
    out = run_blocked(
        f"BLOCKED = {BLOCKED!r}\n" + CLI_SCRIPT, *args, "--new-tokens", "2", "--json", "-"
    )
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert [v["name"] for v in data["variants"]] == ["generic", "shapes_vqa", "code_match"]
    assert "BLOCKED_LOADED []" in out.stderr
