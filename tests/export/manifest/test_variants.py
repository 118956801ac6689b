"""Choosing removal sets from scores files: --remove K, --max-drop PCT, single variants."""

from pathlib import Path

import pytest

from vlmprune.export.manifest.variants import (
    BestSet,
    ObjectiveScores,
    Rule,
    ScoresError,
    ScoresSource,
    plan_all_tasks,
    plan_single,
)

SCORES = ObjectiveScores(
    path=Path("scores/m/x.json"),
    objective="x",
    task_type="vqa",
    num_blocks=14,
    best=(
        BestSet(1, (7,), 0.004),
        BestSet(2, (3, 7), 0.011),
        BestSet(3, (3, 4, 7), 0.029),
        BestSet(4, (3, 4, 7, 8), 0.061),
    ),
    datasets=(),
)


@pytest.mark.parametrize(
    ("rule", "removed"),
    [
        (Rule(remove=1), (7,)),
        (Rule(remove=3), (3, 4, 7)),
        (Rule(max_drop_pct=3.0), (3, 4, 7)),  # 2.9% fits, 6.1% does not
        (Rule(max_drop_pct=1.1), (3, 7)),  # the bound is inclusive
        (Rule(max_drop_pct=0.1), ()),  # nothing qualifies: nothing removed
    ],
)
def test_rules_choose_from_the_best_sets(rule, removed):
    assert rule.choose(SCORES, "vlmprune search --model m").removed_blocks == removed


def test_a_k_beyond_the_search_names_the_command():
    with pytest.raises(
        ScoresError, match=r"k = 1\.\.4, not k = 5; run `vlmprune search --model m --max-remove 5`"
    ):
        Rule(remove=5).choose(SCORES, "vlmprune search --model m")


def test_a_rule_needs_exactly_one_criterion():
    with pytest.raises(ValueError):
        Rule()
    with pytest.raises(ValueError):
        Rule(remove=1, max_drop_pct=2.0)


def test_plans_from_scores_files(tmp_path, tiny_model_dir):
    from export_helpers import write_scores

    from vlmprune.export.models.loading import hash_model_dir

    folder = write_scores(tmp_path, tiny_model_dir)
    source = ScoresSource(folder, "vlmprune search --model m", hash_model_dir(tiny_model_dir), 4)
    specs = plan_all_tasks(source, Rule(remove=1), include_full=True)
    assert [(s.name, s.removed_blocks, s.task_type) for s in specs] == [
        ("generic", (1,), None),
        ("shapes_vqa", (1,), "vqa"),
        ("count_vqa", (2,), "vqa"),
        ("code_match", (3,), "exact_match"),
        ("full", (), None),
    ]
    named = plan_single(source, Rule(remove=1), "count_vqa", (2, 3))
    assert (named.name, named.objective, named.removed_blocks) == ("count_vqa", "count_vqa", (2, 3))
    assert named.expected_drop == pytest.approx(0.05)  # the set is in count_vqa's best list
    assert plan_single(source, Rule(remove=1), "count_vqa", (0, 1)).expected_drop is None
    with pytest.raises(ScoresError, match="--remove 4: the model has 4 blocks"):
        plan_all_tasks(source, Rule(remove=4), include_full=False)
