"""The evaluation cache: hits, corrupt entries recomputed, and resumable searches."""

import json

import pytest

from vlmprune.export.evaluation.cache import EvalCache, EvalEntry, EvalKey, dataset_key
from vlmprune.export.evaluation.evaluate import Evaluator
from vlmprune.export.search.scoring import ScoreSource
from vlmprune.export.tasks.catalog import get_dataset

KEY = EvalKey("abc123", "shapes_vqa", "calib", 3, (1, 4), "vqa_accuracy")


def test_round_trip_and_key_separation(tmp_path):
    cache = EvalCache(tmp_path)
    cache.put(KEY, EvalEntry([1.0, 0.0, 0.5], ["a", "b", "c"]))
    assert cache.get(KEY) == EvalEntry([1.0, 0.0, 0.5], ["a", "b", "c"])
    other = EvalKey("abc123", "shapes_vqa", "calib", 3, (1, 5), "vqa_accuracy")
    assert cache.get(other) is None


@pytest.mark.parametrize(
    "damage",
    [
        lambda text: text[: len(text) // 2],  # truncated
        lambda text: text.replace("0.5", "0.7"),  # edited value: checksum mismatch
        lambda text: "not json",
    ],
)
def test_corrupt_entry_is_detected_not_trusted(tmp_path, damage):
    cache = EvalCache(tmp_path)
    cache.put(KEY, EvalEntry([1.0, 0.0, 0.5], ["a", "b", "c"]))
    (path,) = (tmp_path / "evals").rglob("*.json")
    path.write_text(damage(path.read_text()))
    with pytest.warns(UserWarning, match="corrupt"):
        assert cache.get(KEY) is None
    assert cache.corrupt == 1


def test_search_restart_recomputes_nothing_and_heals_corruption(tiny_vlm, tmp_path):
    datasets = [get_dataset("count_vqa")]

    def source():
        return ScoreSource(
            Evaluator(tiny_vlm, batch_size=4), EvalCache(tmp_path), datasets, limit=4
        )

    first = source()
    for removed in [(), (0,), (1,), (2,)]:
        first.per_example("count_vqa", removed)
    assert first.computed == 4
    # "killed half-way": a second run over a superset finds the finished work on disk
    second = source()
    for removed in [(), (0,), (1,), (2,), (3,)]:
        second.per_example("count_vqa", removed)
    assert second.computed == 1
    # a damaged entry is recomputed, with the same result
    entry = next((tmp_path / "evals").rglob("*.json"))
    saved = json.loads(entry.read_text())
    entry.write_text("{}")
    third = source()
    with pytest.warns(UserWarning, match="corrupt"):
        values = [third.per_example("count_vqa", r).tolist() for r in [(), (0,), (1,), (2,), (3,)]]
    assert third.computed == 1
    assert json.loads(entry.read_text())["sha256"] == saved["sha256"]
    assert values[0] == second.per_example("count_vqa", ()).tolist()


def test_builtin_datasets_key_on_their_name_as_before():
    # Existing caches (and the committed scores' evaluations) stay valid: same key, same file.
    assert dataset_key(get_dataset("shapes_vqa")) == "shapes_vqa"
    assert KEY.digest() == "55b2b02f3e32e1ede996d8fa5d4a96aee9e4cd094c3c8e7882b11a6381fbb529"
