"""Worker processes that run greedy evaluations in parallel, several per GPU.

The model is tiny, so one process leaves a GPU mostly idle: per-forward Python and kernel
launch overhead dominate. Each worker loads the model itself (spawned processes share
nothing), prepares every dataset once, and serves jobs (dataset, split, limit, removed set)
-> predictions from one shared queue, so a slow job never holds up the others. Scoring and
the cache stay in the parent (ScoreSource), so results go through the same code path as the
serial evaluation.
"""

from __future__ import annotations

import multiprocessing
import queue
import signal
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch
import torch.multiprocessing as mp

from ..errors import VlmpruneError
from ..tasks.base import Split, TaskDataset
from .backend import Job
from .evaluate import Evaluator

_POLL_S = 1.0  # how often a waiting parent checks that its workers are still alive
_JOIN_S = 10.0  # grace period for a worker to exit after the stop sentinel


@dataclass(frozen=True)
class WorkerSpec:
    """What every worker needs to rebuild the parent's evaluator on its own device."""

    model_spec: str  # 'demo' or a model folder, as given to load_vlm
    batch_size: int
    datasets: dict[str, TaskDataset]
    keep_inputs: bool = True  # False: prepare every job's inputs again (a from-scratch baseline)


def worker_devices(device: str, workers: int) -> list[str]:
    """'cuda' spreads the workers round-robin over the visible GPUs; anything else is shared."""
    if device != "cuda":
        return [device] * workers
    count = torch.cuda.device_count()
    if count == 0:
        raise VlmpruneError("--device cuda: no CUDA device is available to PyTorch here")
    return [f"cuda:{i % count}" for i in range(workers)]


class EvalPool:
    """`workers` processes on `device`; use as a context manager so they always shut down.

    Implements the EvalBackend job interface (backend.py).
    """

    def __init__(
        self,
        model_spec: str,
        datasets: Sequence[TaskDataset],
        device: str = "cpu",
        workers: int = 2,
        batch_size: int = 64,
        keep_inputs: bool = True,
    ) -> None:
        spec = WorkerSpec(model_spec, batch_size, {d.name: d for d in datasets}, keep_inputs)
        ctx = mp.get_context("spawn")  # CUDA cannot be used in forked children
        self._tasks = ctx.Queue()
        self._results = ctx.Queue()
        self.devices = worker_devices(device, workers)
        self._workers = [
            ctx.Process(
                target=_serve,
                args=(i, spec, dev, self._tasks, self._results),
                daemon=True,  # terminated when the parent exits, even without close()
                name=f"vlmprune-eval-{i}",
            )
            for i, dev in enumerate(self.devices)
        ]
        self._outstanding = 0  # jobs sent whose result has not come back
        self._closed = False
        self.forward_passes = 0  # summed over workers, like Evaluator.forward_passes
        for worker in self._workers:
            worker.start()
        try:
            self.model_hash = self._wait_ready()
        except BaseException:
            self._kill()  # the others may still be loading: do not wait for them
            raise

    def __enter__(self) -> EvalPool:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def run(self, jobs: Sequence[Job]) -> Iterator[tuple[Job, list[str]]]:
        """Yields (job, predictions) in completion order, as soon as each one finishes."""
        if self._closed:
            raise VlmpruneError("the evaluation pool is already closed")
        for index, job in enumerate(jobs):
            self._tasks.put((index, job))
        self._outstanding += len(jobs)
        try:
            while self._outstanding:
                kind, index, payload = self._receive()
                if kind == "error":
                    dataset, _, _, removed = jobs[index]
                    raise VlmpruneError(
                        f"evaluation worker failed on {dataset} with blocks {list(removed)} removed: {payload}"
                    )
                self._outstanding -= 1
                predictions, passes = payload
                self.forward_passes += passes
                yield jobs[index], predictions
        finally:
            # Unfinished jobs (an error, or the caller stopped early) would answer a later
            # run with stale results: such a pool cannot be reused.
            if self._outstanding:
                self._kill()

    def close(self) -> None:
        """Lets idle workers exit on their own; kills them if jobs are still pending."""
        if self._closed:
            return
        if not self._outstanding:
            for _ in self._workers:
                self._tasks.put(None)
            for worker in self._workers:
                worker.join(_JOIN_S)
        self._kill()

    def _kill(self) -> None:
        if self._closed:
            return
        self._closed = True
        for worker in self._workers:
            if worker.is_alive():
                worker.terminate()
                worker.join()
        for q in (self._tasks, self._results):
            q.close()
            q.cancel_join_thread()  # queued jobs of a killed pool must not block the exit

    def _wait_ready(self) -> str:
        hashes = set()
        for _ in self._workers:
            kind, index, payload = self._receive()
            if kind == "failed":
                raise VlmpruneError(
                    f"evaluation worker {index} ({self.devices[index]}) failed to start: {payload}"
                )
            hashes.add(payload)
        if len(hashes) != 1:
            raise VlmpruneError("evaluation workers loaded different models (files changed?)")
        return hashes.pop()

    def _receive(self) -> tuple[str, int, object]:
        """The next worker message; an error instead of waiting forever if a worker died."""
        while True:
            try:
                return self._results.get(timeout=_POLL_S)
            except queue.Empty:
                dead = next((w for w in self._workers if w.exitcode is not None), None)
            if dead is None:
                continue
            try:  # a worker's last message may still be in the pipe when we see it gone
                return self._results.get(timeout=_POLL_S)
            except queue.Empty:
                raise VlmpruneError(
                    f"evaluation worker {dead.name} exited unexpectedly "
                    f"(exit code {dead.exitcode}; out of memory?)"
                ) from None


def _serve(index: int, spec: WorkerSpec, device: str, tasks: mp.Queue, results: mp.Queue) -> None:
    # Ctrl-C reaches the whole process group: the parent handles it and shuts the pool down.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        evaluator = _evaluator(spec, device)
    except Exception as exc:  # noqa: BLE001 (sent to the parent, which raises it)
        results.put(("failed", index, _describe(exc)))
        return
    results.put(("ready", index, evaluator.vlm.model_hash))
    for job_index, (dataset, split, limit, removed) in _jobs(tasks):
        try:
            before = evaluator.forward_passes
            if not spec.keep_inputs:
                evaluator.forget_inputs()
            prepared = evaluator.prepare(spec.datasets[dataset], Split(split), limit)
            predictions = evaluator.predictions(prepared, removed)
            results.put(("done", job_index, (predictions, evaluator.forward_passes - before)))
        except Exception as exc:  # noqa: BLE001
            results.put(("error", job_index, _describe(exc)))


def _jobs(tasks: mp.Queue) -> Iterator[tuple[int, Job]]:
    """Jobs until the stop sentinel, or until the parent is gone.

    A parent killed without closing the pool (SIGTERM, SIGKILL, out of memory) never sends
    the sentinel, and daemon children are only reaped on a clean exit: without this check
    the workers would run every queued job and then wait for more forever.
    """
    parent = multiprocessing.parent_process()
    while parent.is_alive():
        try:
            job = tasks.get(timeout=_POLL_S)
        except queue.Empty:
            continue
        if job is None:
            return
        yield job


def _evaluator(spec: WorkerSpec, device: str) -> Evaluator:
    from ..models.loading import load_vlm

    if device == "cpu":
        torch.set_num_threads(1)  # workers share the cores instead of oversubscribing them
    elif device.startswith("cuda"):
        torch.cuda.set_device(device)
    return Evaluator(load_vlm(spec.model_spec, device), device=device, batch_size=spec.batch_size)


def _describe(exc: Exception) -> str:
    # A VlmpruneError's message is already meant for the user; anything else needs its type.
    return str(exc) if isinstance(exc, VlmpruneError) else f"{type(exc).__name__}: {exc}"
