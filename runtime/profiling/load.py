"""Concurrent load on one Runtime: many threads, random hints and images, answers checked.

A plan gives each of `threads` workers `requests` requests, each a random example of the
pool (an image and a prompt), a random hint (None included) and, with probability
`detect_share`, task detection on. Every distinct request is first answered alone, one at a
time, on a fresh Runtime; then all workers run their requests at once on one shared
Runtime whose `max_resident` is below the number of variants, so decoders are evicted and
reloaded under load. A correct runtime gives every request the same answer (variant and
tokens) both ways, raises nothing, and never holds more decoders than the bound.

Used by tests/runtime/test_end_to_end.py and benchmarks/load_test.py (and gpu_decode.py).
"""

from __future__ import annotations

import gc
import random
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from ..api import Runtime

PROMPTS = (
    "What is in the image?",
    "Describe the picture in one sentence.",
    "How many shapes are there?",
    "Read the text in the image.",
)  # random_pool's default questions


class Example(Protocol):
    image: object  # a PIL image or a path
    prompt: str


@dataclass(frozen=True)
class PoolExample:
    image: object
    prompt: str


@dataclass(frozen=True)
class LoadConfig:
    threads: int = 8
    requests: int = 50  # per thread
    max_new_tokens: int = 4
    detect_share: float = 0.5  # requests with task detection on
    seed: int = 0


@dataclass(frozen=True)
class LoadRequest:
    example: int  # index into the pool
    hint: str | None
    detect: bool


@dataclass(frozen=True)
class Answer:
    variant: str
    tokens: tuple[int, ...]


@dataclass(frozen=True)
class Served:
    """One request of the concurrent run: its answer (None if it raised) and latency."""

    answer: Answer | None
    latency_ms: float
    error: str | None = None


@dataclass(frozen=True)
class LoadReport:
    threads: int
    requests: int  # run, in all
    planned: int  # fewer were run if the deadline came first
    distinct_requests: int
    max_new_tokens: int
    max_resident: int
    max_resident_seen: int
    variants_asked: tuple[str, ...]  # the variants the requests select (run alone)
    errors: tuple[str, ...]  # "thread t, request i: message"
    mismatches: int  # answered, but not as the same request alone
    wall_s: float
    tokens: int  # generated under load
    latency_ms: dict[str, float]  # p50, p90, p99, max over the answered requests
    active_providers: tuple[str, ...] = ()  # what onnxruntime ran the shared runtime on

    @property
    def identical(self) -> bool:
        return not self.errors and self.mismatches == 0 and self.requests > 0

    def to_json(self) -> dict:
        return {
            "threads": self.threads,
            "requests": self.requests,
            "planned_requests": self.planned,
            "distinct_requests": self.distinct_requests,
            "max_new_tokens": self.max_new_tokens,
            "max_resident": self.max_resident,
            "max_resident_seen": self.max_resident_seen,
            "variants_asked": list(self.variants_asked),
            "error_count": len(self.errors),
            "errors": list(self.errors[:10]),  # the first few: enough to see what broke
            "mismatches": self.mismatches,
            "identical_answers": self.identical,
            "wall_s": self.wall_s,
            "requests_per_s": self.requests / self.wall_s if self.wall_s else None,
            "tokens_per_s": self.tokens / self.wall_s if self.wall_s else None,
            "latency_ms": self.latency_ms,
            "active_providers": list(self.active_providers),
        }


def random_pool(
    count: int, size: int, prompts: Sequence[str] = PROMPTS, seed: int = 0
) -> list[PoolExample]:
    """`count` random RGB noise images of `size` px, each with one of `prompts` (in turn)."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    return [
        PoolExample(
            Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)),
            prompts[i % len(prompts)],
        )
        for i in range(count)
    ]


def make_plan(
    pool_size: int, hints: Sequence[str | None], config: LoadConfig
) -> list[list[LoadRequest]]:
    """`threads` lists of `requests` random requests (the same for the same seed)."""
    rng = random.Random(config.seed)
    return [
        [
            LoadRequest(
                rng.randrange(pool_size), rng.choice(hints), rng.random() < config.detect_share
            )
            for _ in range(config.requests)
        ]
        for _ in range(config.threads)
    ]


def ask(runtime: Runtime, pool: Sequence[Example], request: LoadRequest, steps: int) -> Answer:
    example = pool[request.example]
    result = runtime.generate(
        example.image,
        example.prompt,
        task_hint=request.hint,
        detect=request.detect,
        max_new_tokens=steps,
    )
    return Answer(result.variant, result.tokens)


def answers_alone(
    runtime: Runtime, pool: Sequence[Example], plan: list[list[LoadRequest]], steps: int
) -> dict[LoadRequest, Answer]:
    """Every distinct request of the plan answered on its own, one after the other."""
    distinct = dict.fromkeys(r for thread in plan for r in thread)
    return {r: ask(runtime, pool, r, steps) for r in distinct}


def serve(
    runtime: Runtime,
    pool: Sequence[Example],
    plan: list[list[LoadRequest]],
    steps: int,
    deadline: float | None = None,
) -> tuple[list[list[Served]], float]:
    """All threads at once on `runtime`; (per thread, per request: what came back), wall s.
    A request that raises is recorded, not re-raised: the run goes on. Past `deadline`
    (time.perf_counter) a thread starts no more requests: its list ends early."""

    def worker(requests: list[LoadRequest]) -> list[Served]:
        served = []
        for r in requests:
            if deadline is not None and time.perf_counter() > deadline:
                break
            start = time.perf_counter()
            try:
                answer, error = ask(runtime, pool, r, steps), None
            except Exception as exc:  # counted as an error of the load test
                answer, error = None, f"{type(exc).__name__}: {exc}"
            served.append(Served(answer, (time.perf_counter() - start) * 1e3, error))
        return served

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=len(plan)) as executor:
        results = list(executor.map(worker, plan))
    return results, time.perf_counter() - start


def summarise(
    plan: list[list[LoadRequest]],
    served: list[list[Served]],
    wall_s: float,
    expected: dict[LoadRequest, Answer],
    runtime: Runtime,
    steps: int,
) -> LoadReport:
    errors, mismatches, latencies, tokens = [], 0, [], 0
    for t, (requests, got) in enumerate(zip(plan, served, strict=True)):
        for i, (request, s) in enumerate(zip(requests, got, strict=False)):  # cut off: shorter
            if s.error is not None:
                errors.append(f"thread {t}, request {i}: {s.error}")
                continue
            latencies.append(s.latency_ms)
            tokens += len(s.answer.tokens)
            mismatches += s.answer != expected[request]
    data = np.asarray(latencies or [float("nan")], dtype=np.float64)
    p50, p90, p99 = (float(x) for x in np.percentile(data, [50, 90, 99]))
    return LoadReport(
        threads=len(plan),
        requests=sum(len(thread) for thread in served),
        planned=sum(len(thread) for thread in plan),
        distinct_requests=len(expected),
        max_new_tokens=steps,
        max_resident=runtime.config.max_resident,
        max_resident_seen=runtime.sessions.max_resident_seen,
        variants_asked=tuple(sorted({a.variant for a in expected.values()})),
        errors=tuple(errors),
        mismatches=mismatches,
        wall_s=wall_s,
        tokens=tokens,
        latency_ms={"p50": p50, "p90": p90, "p99": p99, "max": float(data.max())},
        active_providers=tuple(runtime.sessions.active_providers or ()),
    )


def load_test(
    open_runtime: Callable[[int], Runtime],
    pool: Sequence[Example],
    hints: Sequence[str | None],
    config: LoadConfig,
    max_resident: int,
    deadline: float | None = None,
) -> LoadReport:
    """The whole test: the plan, its answers alone on one runtime (every variant may stay
    resident), then the concurrent run on another, `open_runtime(max_resident)`."""
    plan = make_plan(len(pool), hints, config)
    alone = open_runtime(1024)
    expected = answers_alone(alone, pool, plan, config.max_new_tokens)
    del alone  # its sessions go before the shared runtime loads its own (GPU memory)
    gc.collect()
    shared = open_runtime(max_resident)
    served, wall_s = serve(shared, pool, plan, config.max_new_tokens, deadline)
    return summarise(plan, served, wall_s, expected, shared, config.max_new_tokens)
