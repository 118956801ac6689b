"""Evaluation on a Ray cluster: the same jobs as the local process pool, run by Ray actors.

Each actor loads the model itself (load_vlm on its own device), prepares every dataset once
and serves jobs (dataset, split, limit, removed set) -> predictions, exactly like a worker of
EvalPool (pool.py); scoring and the cache stay with the caller (ScoreSource), so results are
identical to the local backends. Jobs are dealt out a few at a time per actor, so a slow job
never holds up the others. An actor that dies (its node lost, out of memory, killed) is
replaced and its unfinished jobs are sent again, a bounded number of times.

Ray is imported only when a RayPool is built: it is an optional extra (`vlmprune[ray]`).
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from types import ModuleType

from ..errors import VlmpruneError
from ..tasks.base import Split, TaskDataset
from .backend import Job
from .pool import WorkerSpec, _describe, _evaluator

RAY_INSTALL_HINT = "--backend ray needs Ray: pip install 'vlmprune[ray]'"
_PER_ACTOR = 2  # jobs queued on one actor: the next one starts while a result travels back
_PROBE_S = 5.0  # seconds to open a TCP connection to --ray-address
_POLL_S = 1.0  # ray.wait timeout: Ctrl-C is seen between waits at the latest after this


def import_ray() -> ModuleType:
    try:
        import ray
    except ImportError:  # a broken install is as unusable as a missing one
        raise VlmpruneError(RAY_INSTALL_HINT) from None
    return ray


class EvalActor:
    """One model copy in one Ray worker process; made remote in RayPool (Ray is optional).

    Failures to start and failing jobs come back as values, like EvalPool's messages: an
    exception raised here would reach the driver as a multi-line Ray traceback.
    """

    def __init__(self, spec: WorkerSpec, device: str) -> None:
        self.spec = spec
        self.evaluator = None
        self.failure = None
        try:
            self.evaluator = _evaluator(spec, device)
        except Exception as exc:  # noqa: BLE001 (sent to the driver, which raises it)
            self.failure = _describe(exc)

    def ready(self) -> tuple[str, str]:
        if self.evaluator is None:
            return "failed", self.failure
        return "ready", self.evaluator.vlm.model_hash

    def predict(self, job: Job) -> tuple[str, object]:
        dataset, split, limit, removed = job
        try:
            before = self.evaluator.forward_passes
            if not self.spec.keep_inputs:
                self.evaluator.forget_inputs()
            prepared = self.evaluator.prepare(self.spec.datasets[dataset], Split(split), limit)
            predictions = self.evaluator.predictions(prepared, removed)
            return "done", (predictions, self.evaluator.forward_passes - before)
        except Exception as exc:  # noqa: BLE001
            return "error", _describe(exc)


@dataclass
class _Slot:
    """One actor position: its current actor, replaced when it dies."""

    index: int
    handle: object  # ray.actor.ActorHandle
    ready: object = None  # ObjectRef of ready() while a replacement is starting


@dataclass(frozen=True)
class _Task:
    slot: int
    handle: object  # the actor it was sent to (the slot may hold a newer one by now)
    job_index: int


class RayPool:
    """`workers` Ray actors on `device`; use as a context manager so they always go away.

    Implements the EvalBackend job interface (backend.py). `address`: a running cluster
    (`ray.init(address=...)`); None starts a local Ray, shut down again on close. A Ray
    already initialised by the caller is used as it is and left running.
    """

    def __init__(
        self,
        model_spec: str,
        datasets: Sequence[TaskDataset],
        device: str = "cpu",
        workers: int = 2,
        batch_size: int = 64,
        gpus_per_worker: float = 1.0,
        address: str | None = None,
        max_retries: int = 2,
        keep_inputs: bool = True,
    ) -> None:
        self._ray = import_ray()
        self._spec = WorkerSpec(model_spec, batch_size, {d.name: d for d in datasets}, keep_inputs)
        # Ray restricts each actor to its own GPUs (CUDA_VISIBLE_DEVICES): the first one is its.
        self._device = "cuda:0" if device == "cuda" else device
        self._resources = (
            {"num_gpus": gpus_per_worker, "num_cpus": 0} if device == "cuda" else {"num_cpus": 1}
        )
        self.max_retries = max_retries  # re-sends of one job after the actor running it died
        self.replaced = 0  # actors replaced after dying
        self.forward_passes = 0  # summed over actors, like Evaluator.forward_passes
        self._closed = False
        # A local Ray gets a CPU per actor at least: like EvalPool, more workers than cores
        # share them rather than wait forever for a free one.
        local_cpus = max(os.cpu_count() or 1, workers)
        self._started_ray = _connect(self._ray, address, local_cpus)
        try:
            _check_resources(self._ray, self._resources, workers, address)
            self._remote = self._ray.remote(EvalActor)
            self._slots = [_Slot(i, self._spawn()) for i in range(workers)]
            self.model_hash = self._wait_ready()
        except BaseException:
            self._shutdown()
            raise

    def __enter__(self) -> RayPool:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def run(self, jobs: Sequence[Job]) -> Iterator[tuple[Job, list[str]]]:
        """Yields (job, predictions) in completion order, as soon as each one finishes."""
        if self._closed:
            raise VlmpruneError("the Ray evaluation pool is already closed")
        pending = list(range(len(jobs)))[::-1]  # job indices not sent yet; pop() takes the next
        attempts = [0] * len(jobs)
        inflight: dict[object, _Task] = {}  # ObjectRef -> what it is
        done = False
        try:
            self._deal(jobs, pending, inflight)
            while inflight:
                ref = self._next_ready(inflight)
                task = inflight.pop(ref)
                try:
                    kind, payload = self._ray.get(ref)
                except self._ray.exceptions.RayActorError as exc:
                    self._recover(jobs, task, attempts, pending, inflight, exc)
                    self._deal(jobs, pending, inflight)
                    continue
                if kind == "error":
                    dataset, _, _, removed = jobs[task.job_index]
                    raise VlmpruneError(
                        f"evaluation actor failed on {dataset} with blocks {list(removed)} removed: {payload}"
                    )
                predictions, passes = payload
                self.forward_passes += passes
                self._deal(jobs, pending, inflight)
                yield jobs[task.job_index], predictions
            done = True
        finally:
            # Unfinished jobs (an error, Ctrl-C, or the caller stopped early) would keep the
            # actors busy with work nobody reads: such a pool cannot be reused.
            if not done:
                for ref in inflight:
                    self._ray.cancel(ref)
                self._shutdown()

    def close(self) -> None:
        self._shutdown()

    # -- dealing jobs out ------------------------------------------------------------------

    def _deal(self, jobs: Sequence[Job], pending: list[int], inflight: dict) -> None:
        """Tops every live actor up to _PER_ACTOR queued jobs."""
        load = {s.index: 0 for s in self._slots}
        for task in inflight.values():
            if task.handle is self._slots[task.slot].handle:
                load[task.slot] += 1
        while pending:
            slot = min(self._slots, key=lambda s: (load[s.index], s.index))
            if load[slot.index] >= _PER_ACTOR:
                return
            index = pending.pop()
            inflight[slot.handle.predict.remote(jobs[index])] = _Task(
                slot.index, slot.handle, index
            )
            load[slot.index] += 1

    def _next_ready(self, inflight: dict) -> object:
        """The first finished job; a replacement actor's ready() is checked on the way."""
        while True:
            starting = [s.ready for s in self._slots if s.ready is not None]
            ready, _ = self._ray.wait(
                [*starting, *inflight], num_returns=1, timeout=_POLL_S, fetch_local=False
            )
            if not ready:
                continue
            slot = next((s for s in self._slots if s.ready == ready[0]), None)
            if slot is None:
                return ready[0]
            slot.ready = None
            try:
                self._check_hash(slot.index, self._ray.get(ready[0]))
            except self._ray.exceptions.RayActorError:
                pass  # its queued jobs fail the same way and are handled there

    def _recover(
        self,
        jobs: Sequence[Job],
        task: _Task,
        attempts: list[int],
        pending: list[int],
        inflight: dict,
        exc: Exception,
    ) -> None:
        """Replaces the dead actor (once) and queues its job again, a bounded number of times."""
        dataset, _, _, removed = jobs[task.job_index]
        attempts[task.job_index] += 1
        if attempts[task.job_index] > self.max_retries:
            raise VlmpruneError(
                f"evaluation of {dataset} with blocks {list(removed)} removed lost its Ray actor "
                f"{attempts[task.job_index]} times; giving up ({_first_line(exc)})"
            ) from None
        slot = self._slots[task.slot]
        if slot.handle is task.handle:  # the first of its jobs to report the death
            self._ray.kill(task.handle, no_restart=True)
            slot.handle = self._spawn()
            slot.ready = slot.handle.ready.remote()
            self.replaced += 1
        pending.append(task.job_index)  # sent again next, before any job not started yet

    # -- actors ----------------------------------------------------------------------------

    def _spawn(self) -> object:
        return self._remote.options(**self._resources).remote(self._spec, self._device)

    def _wait_ready(self) -> str:
        refs = [s.handle.ready.remote() for s in self._slots]
        hashes = set()
        for slot, ref in zip(self._slots, refs, strict=True):
            try:
                hashes.add(self._check_hash(slot.index, self._ray.get(ref)))
            except self._ray.exceptions.RayActorError as exc:
                raise VlmpruneError(
                    f"evaluation actor {slot.index} died while starting: {_first_line(exc)}"
                ) from None
        if len(hashes) != 1:
            raise VlmpruneError("evaluation actors loaded different models (files changed?)")
        return hashes.pop()

    def _check_hash(self, index: int, reply: tuple[str, str]) -> str:
        kind, payload = reply
        if kind == "failed":
            raise VlmpruneError(f"evaluation actor {index} failed to start: {payload}")
        if getattr(self, "model_hash", payload) != payload:
            raise VlmpruneError(
                f"replacement evaluation actor {index} loaded a different model (files changed?)"
            )
        return payload

    def _shutdown(self) -> None:
        if self._closed:
            return
        self._closed = True
        for slot in getattr(self, "_slots", []):
            self._ray.kill(slot.handle, no_restart=True)
        if self._started_ray:
            self._ray.shutdown()


def _connect(ray: ModuleType, address: str | None, local_cpus: int) -> bool:
    """Connects to `address`, or starts a local Ray; True when this call initialised Ray."""
    if ray.is_initialized():
        return False
    # Actor output would mix with the command's own (--json): results come back as values.
    options = {"log_to_driver": False, "logging_level": logging.WARNING}
    if address:
        probe_address(address)
    try:
        if address:
            ray.init(address=address, **options)
        else:
            ray.init(num_cpus=local_cpus, include_dashboard=False, **options)
    except (ConnectionError, TimeoutError, RuntimeError, ValueError) as exc:
        where = f"the Ray cluster at {address}" if address else "a local Ray instance"
        raise VlmpruneError(f"--backend ray: cannot reach {where}: {_first_line(exc)}") from None
    return True


def probe_address(address: str) -> None:
    """One TCP connection first: ray.init retries an unreachable GCS for minutes, silently."""
    if address in ("auto", "local"):
        return  # Ray resolves these itself and fails fast when there is nothing
    target = address.removeprefix("ray://")
    host, _, port = target.rpartition(":")
    if not host or not port.isdigit():
        raise VlmpruneError(
            f"--ray-address '{address}': expected HOST:PORT, ray://HOST:PORT or auto"
        )
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=_PROBE_S).close()
    except OSError as exc:
        raise VlmpruneError(
            f"--backend ray: cannot reach the Ray cluster at {address}: {_first_line(exc)}"
        ) from None


def _check_resources(ray: ModuleType, resources: dict, workers: int, address: str | None) -> None:
    """Actors that can never be placed would wait forever: say so instead."""
    total = ray.cluster_resources()
    where = f"the Ray cluster at {address}" if address else "the local Ray instance"
    for name, flag in (("GPU", "num_gpus"), ("CPU", "num_cpus")):
        need = resources.get(flag, 0) * workers
        have = total.get(name, 0.0)
        if need > have + 1e-9:
            hint = "--workers or --gpus-per-worker" if name == "GPU" else "--workers"
            raise VlmpruneError(
                f"--workers {workers} needs {need:g} {name}s, {where} has {have:g}; lower {hint}"
            )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
