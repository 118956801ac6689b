"""Evaluations on Ray actors: the same files as the local backend, actors replaced, clean exits.

One local Ray instance (2 CPUs, no dashboard) serves the whole module: starting Ray costs
several seconds. RayPool finds it initialised and leaves it running.
"""

import datetime
import os
import sys
import time

import pytest
import ray
from click.testing import CliRunner

from vlmprune.export.cli import main
from vlmprune.export.errors import VlmpruneError
from vlmprune.export.evaluation.cache import EvalCache
from vlmprune.export.evaluation.evaluate import Evaluator
from vlmprune.export.evaluation.ray_backend import EvalActor, RayPool, probe_address
from vlmprune.export.models.loading import load_vlm
from vlmprune.export.search.scoring import ScoreSource
from vlmprune.export.tasks.catalog import get_dataset

DATASETS = "shapes_vqa,bar_charts"


class _FixedClock(datetime.datetime):
    """Provenance records the time of writing: fixed, so two runs' files compare byte for byte."""

    @classmethod
    def now(cls, tz=None):
        return datetime.datetime(2026, 12, 1, 12, 0, 0, tzinfo=tz)


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def _search(model_dir, root, *extra):
    args = [
        "search",
        "--model",
        model_dir,
        "--datasets",
        DATASETS,
        "--limit",
        2,
        "--max-remove",
        2,
        "--beam-width",
        2,
        "--scores-dir",
        root / "scores",
        "--cache-dir",
        root / "cache",
        "--json",
        *extra,
    ]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("vlmprune.export.io.datetime", _FixedClock)
        result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result.stdout


def _files(root):
    """Relative path -> bytes of every scores file and cache entry the run wrote."""
    return {
        str(f.relative_to(root)): f.read_bytes() for f in sorted(root.rglob("*")) if f.is_file()
    }


@pytest.fixture(scope="module")
def local_run(tiny_model_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("local")
    return _search(tiny_model_dir, root, "--backend", "local"), _files(root)


def _assert_same_as_local(local_run, stdout, files):
    local_stdout, local_files = local_run
    assert stdout == local_stdout  # best sets, evaluations computed, forward passes
    assert sum(name.startswith("cache/") for name in local_files) > 10
    assert sum(name.startswith("scores/") for name in local_files) == 3  # 2 datasets + generic
    assert files.keys() == local_files.keys()
    for name, body in local_files.items():
        assert files[name] == body, name


def _alive(handle, wait_s: float = 20.0):
    """Whether the actor still answers `wait_s` after the call: ray.kill is asynchronous, so
    an actor killed a moment ago may answer once more before it is gone."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            ray.get(handle.ready.remote(), timeout=30)
        except ray.exceptions.RayActorError:
            return False
        if time.monotonic() > deadline:
            return True
        time.sleep(0.2)


def test_ray_search_writes_the_same_files_as_local(local_ray, local_run, tiny_model_dir, tmp_path):
    stdout = _search(tiny_model_dir, tmp_path, "--backend", "ray", "--workers", 2)
    _assert_same_as_local(local_run, stdout, _files(tmp_path))
    assert ray.is_initialized()  # the caller's Ray is left running


def test_a_killed_actor_is_replaced_and_results_stay_the_same(
    local_ray, local_run, tiny_model_dir, tmp_path, monkeypatch
):
    pools = []
    run = RayPool.run

    def run_then_kill(self, jobs):
        for item in run(self, jobs):
            if not pools:  # once per command: kill actor 0 while it still holds queued jobs
                pools.append(self)
                ray.kill(self._slots[0].handle, no_restart=True)
            yield item

    monkeypatch.setattr(RayPool, "run", run_then_kill)
    stdout = _search(tiny_model_dir, tmp_path, "--backend", "ray", "--workers", 2)
    assert pools[0].replaced == 1
    _assert_same_as_local(local_run, stdout, _files(tmp_path))
    assert not any(_alive(slot.handle) for slot in pools[0]._slots)  # closed with the command


def test_ctrl_c_while_consuming_keeps_finished_entries_and_stops_the_actors(
    local_ray, tiny_model_dir, tmp_path, monkeypatch
):
    datasets = [get_dataset(name) for name in DATASETS.split(",")]
    vlm = load_vlm(str(tiny_model_dir))
    cache = EvalCache(tmp_path)
    pool = RayPool(str(tiny_model_dir), datasets, workers=2, batch_size=64)
    source = ScoreSource(Evaluator(vlm), cache, datasets, limit=2, pool=pool)
    put = cache.put

    def put_then_interrupt(key, entry):
        put(key, entry)
        if len(list(tmp_path.rglob("*.json"))) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(cache, "put", put_then_interrupt)
    pairs = [(name, (block,)) for name in DATASETS.split(",") for block in range(4)]
    start = time.monotonic()
    with pytest.raises(KeyboardInterrupt), pool:
        source.prefetch(pairs)
    assert time.monotonic() - start < 60
    assert len(list(tmp_path.rglob("*.json"))) == 2  # what finished is in the cache
    assert not any(_alive(slot.handle) for slot in pool._slots)
    with pytest.raises(VlmpruneError, match="already closed"):
        next(pool.run([("shapes_vqa", "calib", 2, ())]))


class _DyingActor(EvalActor):
    """Starts without a model and dies on every job, as if its node went down each time."""

    def __init__(self, spec, device):
        pass

    def ready(self):
        return "ready", "hash-of-no-model"

    def predict(self, job):
        os._exit(1)


def test_a_job_that_loses_its_actor_every_time_is_one_clear_error(local_ray, monkeypatch):
    # Sent by value: Ray workers cannot import this test module.
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    monkeypatch.setattr("vlmprune.export.evaluation.ray_backend.EvalActor", _DyingActor)
    with RayPool("demo", [get_dataset("shapes_vqa")], workers=1, max_retries=1) as pool:
        with pytest.raises(VlmpruneError, match="lost its Ray actor 2 times; giving up"):
            list(pool.run([("shapes_vqa", "calib", 2, ())]))
        assert pool.replaced == 1


def test_a_model_the_actors_cannot_load_is_one_clear_error(local_ray, tmp_path):
    with pytest.raises(
        VlmpruneError, match="actor 0 failed to start: model path .* does not exist"
    ):
        RayPool(str(tmp_path / "nothing"), [get_dataset("shapes_vqa")], workers=1)


def test_missing_ray_is_one_clear_line(tiny_model_dir, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    result = CliRunner().invoke(
        main, ["search", "--model", str(tiny_model_dir), "--backend", "ray", "--no-cache"]
    )
    assert result.exit_code == 1
    assert result.output.strip() == "Error: --backend ray needs Ray: pip install 'vlmprune[ray]'"


@pytest.mark.parametrize(
    "args, message",
    [
        (["--backend", "ray", "--gpus-per-worker", "0.5"], "--gpus-per-worker needs --device cuda"),
        (
            ["--backend", "ray", "--device", "cuda", "--gpus-per-worker", "0"],
            "--gpus-per-worker must be > 0, got 0",
        ),
        (["--gpus-per-worker", "1"], "--gpus-per-worker needs --backend ray"),
        (["--ray-address", "auto"], "--ray-address needs --backend ray"),
        (
            ["--backend", "ray", "--ray-address", "127.0.0.1:1"],
            "cannot reach the Ray cluster at 127.0.0.1:1: ",
        ),
        (["--backend", "ray", "--ray-address", "headnode"], "expected HOST:PORT"),
    ],
)
def test_bad_backend_flags_are_one_clear_line(tiny_model_dir, args, message):
    result = CliRunner().invoke(main, ["scores", "--model", str(tiny_model_dir), *args])
    assert result.exit_code == 1, result.output
    assert message in result.output and len(result.output.strip().splitlines()) == 1


def test_probe_accepts_a_listening_port():
    import socket

    with socket.create_server(("127.0.0.1", 0)) as server:
        probe_address(f"127.0.0.1:{server.getsockname()[1]}")
        probe_address(f"ray://127.0.0.1:{server.getsockname()[1]}")
