"""ScienceQA: problems.json keyed by problem id, pid_splits.json, one image folder per problem.

Read from github.com/lupantech/ScienceQA (README "Download the Dataset";
data/scienceqa/pid_splits.json holds train, val, test, trainval, minitrain, minival,
minitest):

    problems.json:   {"<pid>": {"question", "choices": [...], "answer": <0-based index>,
                                "hint", "image": "image.png" or null, "split", "subject", ...}}
    pid_splits.json: {"train": ["1", "2", ...], "val": [...], "test": [...], ...}
    image:           <images>/<problem's split>/<pid>/<image>

Problems without an image are skipped (ScienceQA-IMG is the image subset). The prompt is
lmms-eval's scienceqa_img one: "Context: <hint>" when there is a hint, the question, the
lettered choices; the reference is the correct letter (option accuracy).
"""

from __future__ import annotations

from ...errors import VlmpruneError
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
from .common import (
    MC_FIELDS,
    OPTION_LETTER,
    expect,
    key_of,
    load_json,
    option_fields,
    option_letter,
)


@register_format
class ScienceQa(Format):
    name = "scienceqa"
    paths = (
        PathField("problems", help="problems.json"),
        PathField("splits", required=False, help="pid_splits.json (default: each problem's split)"),
        PathField("images", PathKind.DIR, help="folder of <split>/<pid>/<image>"),
    )
    strata = ("subject", "grade", "category")
    has_splits = True
    task_type = TaskType.MULTIPLE_CHOICE
    metric = Metric.OPTION_ACCURACY
    prompt = OPTION_LETTER
    max_new_tokens = 16  # lmms-eval's scienceqa_img generation_kwargs
    stratify = "subject"  # natural, social and language science in their proportions
    fields = MC_FIELDS
    skill = "grade-school science multiple choice over diagrams and photos"

    def read(self, source: Source, problems: Problems) -> Read:
        path = source.path("problems")
        data = expect(load_json(path), dict, f"{path.name}: the top level")
        membership = _membership(source, data)
        folder = source.path("images")
        records, skipped = [], 0
        for pid, problem in data.items():
            where = f"{path.name} problem {pid}"
            image = key_of(problem, "image", (str, type(None)), where)
            if not image:
                skipped += 1
                continue
            choices = key_of(problem, "choices", list, where)
            fields = option_fields(
                key_of(problem, "question", str, where),
                [str(c) for c in choices],
                str(problem.get("hint") or ""),
                where,
            )
            split = key_of(problem, "split", str, where)
            records.append(
                Record(
                    key=str(pid),
                    where=where,
                    fields=fields,
                    answers=(option_letter(problem.get("answer"), len(choices), where),),
                    image=FileImage(folder / split / str(pid) / image),
                    splits=membership.get(str(pid), frozenset({split})),
                    strata={k: str(problem.get(k, "")) for k in self.strata},
                )
            )
        return Read(records, skipped=skipped)


def _membership(source: Source, problems: dict) -> dict[str, frozenset[str]]:
    """pid -> the pid_splits.json lists it is in; every listed pid must be a problem."""
    path = source.path("splits")
    if path is None:
        return {}
    data = expect(load_json(path), dict, f"{path.name}: the top level")
    out: dict[str, set[str]] = {}
    for split, pids in data.items():
        for pid in expect(pids, list, f"{path.name}: field {split!r}"):
            if str(pid) not in problems:
                raise VlmpruneError(f"{path.name}: {split!r} lists pid {pid!r}, not in problems")
            out.setdefault(str(pid), set()).add(split)
    return {pid: frozenset(s) for pid, s in out.items()}
