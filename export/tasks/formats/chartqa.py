"""ChartQA: human-written and machine-generated question files per split (official layout).

Read from github.com/vis-nlp/ChartQA ("ChartQA Dataset/test/test_human.json" and its
README: each split folder has <split>_human.json, <split>_augmented.json and png/):

    [{"imgname": "41699051005347.png", "query": "How many food items are shown?", "label": "14"}]
    image: <images>/<imgname>           (default: the png/ folder beside the file)

Records have no id: the key is "<file stem>:<index>". Stratum `source` is "human" or
"augmented" from the file name (ChartQA reports the two separately), and the split label
is the file name's prefix ("train", "val", "test"). Metric: relaxed accuracy (5% numeric
tolerance), ChartQA's.
"""

from __future__ import annotations

import re

from ..base import TaskType
from ..metrics import Metric
from .base import (
    FileImage,
    Format,
    PathField,
    PathKind,
    Problems,
    Read,
    Record,
    Source,
    register_format,
)
from .common import answer_strings, key_of, labels, load_json, top_list

_OFFICIAL_NAME = re.compile(r"(?P<split>train|val|test)_(?P<source>human|augmented)")


@register_format
class ChartQa(Format):
    name = "chartqa"
    paths = (
        PathField("annotations", many=True, help="<split>_human.json, <split>_augmented.json"),
        PathField("images", PathKind.DIR, required=False, help="default: png/ beside each file"),
    )
    strata = ("source",)
    has_splits = True
    task_type = TaskType.DOC_QA
    metric = Metric.RELAXED_ACCURACY
    # lmms-eval's chartqa post_prompt.
    prompt = "{question}\nAnswer the question with a single word."
    max_new_tokens = 16  # lmms-eval's chartqa generation_kwargs
    stratify = "source"
    skill = "read values off real charts and compute with them (5% numeric tolerance)"

    def read(self, source: Source, problems: Problems) -> Read:
        records = []
        for path in source.files("annotations"):
            folder = source.path("images") or path.parent / "png"  # the release's layout
            match = _OFFICIAL_NAME.fullmatch(path.stem)
            split, origin = (match["split"], match["source"]) if match else ("", path.stem)
            for i, row in enumerate(top_list(load_json(path), None, path)):
                where = f"{path.name} record {i}"
                records.append(
                    Record(
                        key=f"{path.stem}:{i}",
                        where=where,
                        fields={"question": key_of(row, "query", str, where)},
                        answers=answer_strings(
                            key_of(row, "label", (str, int, float), where), where
                        ),
                        image=FileImage(folder / key_of(row, "imgname", str, where)),
                        splits=labels(split),
                        strata={"source": origin},
                    )
                )
        return Read(records)
