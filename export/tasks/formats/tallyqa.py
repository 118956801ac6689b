"""TallyQA: counting questions in one JSON list per split (train.json, test.json).

Read from github.com/manoja328/TallyQA_dataset (README "Download QA pairs"):

    [{"answer": 4, "data_source": "imported_genome", "image": "VG_100K_2/2410408.jpg",
      "image_id": 92410408, "issimple": false, "question": "How many ...?",
      "question_id": 30095774}]
    image: <images>/<image>             (images = the folder holding VG_100K*/ and COCO folders)

The answer is an integer; the reference is its decimal string, scored by exact match
(the metric is not loosened: a model must print the count as digits, which the prompt
asks for). Stratum `issimple` is "simple" or "complex" (TallyQA reports the two apart);
`data_source` is offered too. The files carry no split label: list the files to merge.
"""

from __future__ import annotations

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
from .common import key_of, load_json, top_list


@register_format
class TallyQa(Format):
    name = "tallyqa"
    paths = (
        PathField("annotations", many=True, help="train.json or test.json"),
        PathField("images", PathKind.DIR, help="folder holding each record's image path"),
    )
    strata = ("issimple", "data_source")
    task_type = TaskType.EXACT_MATCH
    metric = Metric.EXACT_MATCH
    # lmms-eval has no TallyQA task: this asks for the digits exact match compares.
    prompt = "{question}\nAnswer with a single number in digits."
    max_new_tokens = 8
    stratify = "issimple"
    skill = "count objects in photos, simple and complex counting questions"

    def read(self, source: Source, problems: Problems) -> Read:
        folder = source.path("images")
        records = []
        for path in source.files("annotations"):
            for i, row in enumerate(top_list(load_json(path), None, path)):
                qid = key_of(row, "question_id", (int, str), f"{path.name} record {i}")
                where = f"{path.name} question_id {qid}"
                answer = key_of(row, "answer", int, where)
                simple = row.get("issimple")
                records.append(
                    Record(
                        key=str(qid),
                        where=where,
                        fields={"question": key_of(row, "question", str, where)},
                        answers=(str(answer),),
                        image=FileImage(folder / key_of(row, "image", str, where)),
                        strata={
                            "issimple": ""
                            if simple is None
                            else ("simple" if simple else "complex"),
                            "data_source": str(row.get("data_source", "")),
                        },
                    )
                )
        return Read(records)
