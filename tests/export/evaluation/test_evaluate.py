"""The evaluation harness: the fast path equals evaluating a permanently pruned copy."""

import copy

import torch

from vlmprune.export.evaluation.evaluate import Evaluator
from vlmprune.export.tasks.base import Split
from vlmprune.export.tasks.catalog import get_dataset


def test_fast_path_equals_permanently_pruned_model(tiny_vlm):
    dataset = get_dataset("shapes_vqa")
    fast = Evaluator(tiny_vlm, batch_size=4)
    result = fast.evaluate(dataset, Split.CALIB, (1, 3), limit=6)
    pruned = copy.deepcopy(tiny_vlm)
    pruned.adapter.remove_blocks(pruned.model, (1, 3))
    slow = Evaluator(pruned, batch_size=6).evaluate(dataset, Split.CALIB, (), limit=6)
    assert result.predictions == slow.predictions
    assert result.n == 6 and result.removed_blocks == (1, 3)
    # the model is whole again afterwards
    assert tiny_vlm.adapter.kept_blocks(tiny_vlm.model) == [0, 1, 2, 3]


def test_batch_size_does_not_change_predictions(tiny_vlm):
    dataset = get_dataset("code_match")
    a = Evaluator(tiny_vlm, batch_size=1).evaluate(dataset, Split.TEST, (), limit=5)
    b = Evaluator(tiny_vlm, batch_size=5).evaluate(dataset, Split.TEST, (), limit=5)
    assert a.predictions == b.predictions


def test_prepared_inputs_are_reused_across_removal_sets(tiny_vlm):
    evaluator = Evaluator(tiny_vlm, batch_size=4)
    dataset = get_dataset("count_vqa")
    first = evaluator.prepare(dataset, Split.CALIB, 4)
    evaluator.evaluate(dataset, Split.CALIB, (2,), limit=4)
    assert evaluator.prepare(dataset, Split.CALIB, 4) is first
    assert isinstance(first.batches[0][0], torch.Tensor)


def test_forget_inputs_prepares_again_with_the_same_predictions(tiny_vlm):
    evaluator = Evaluator(tiny_vlm, batch_size=4)
    dataset = get_dataset("count_vqa")
    first = evaluator.prepare(dataset, Split.CALIB, 4)
    before = evaluator.predictions(first, (1,))
    evaluator.forget_inputs()
    again = evaluator.prepare(dataset, Split.CALIB, 4)
    assert again is not first
    assert evaluator.predictions(again, (1,)) == before
