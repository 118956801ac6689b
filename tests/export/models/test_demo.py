"""The embedded demo ships with the package, has 14 blocks, and is a trained model."""

from vlmprune.export.evaluation.evaluate import Evaluator
from vlmprune.export.models.loading import load_vlm
from vlmprune.export.tasks.base import Split
from vlmprune.export.tasks.catalog import get_dataset


def test_demo_loads_with_fourteen_blocks_and_answers_shapes_questions():
    vlm = load_vlm("demo")
    assert vlm.num_blocks == 14
    assert vlm.spec.num_image_tokens == 64 and vlm.spec.image_size == 96
    result = Evaluator(vlm, batch_size=20).evaluate(get_dataset("shapes_vqa"), Split.TEST, (), 20)
    # 0.78 on the full test split; a random model scores ~0 here.
    assert result.score >= 0.5, result.predictions
    assert load_vlm("demo").model_hash == vlm.model_hash
