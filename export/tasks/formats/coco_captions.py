"""COCO captions: the official captions_<subtype>.json, or Karpathy's dataset_coco.json.

Read from the COCO annotation format (cocodataset.org/#format-data, "Image Captioning";
pycocotools' COCO class indexes the same keys) and from Karpathy's split file
(cs.stanford.edu/people/karpathy/deepimagesent, caption_datasets.zip; readers use
images[i]["split"], ["filepath"], ["filename"], ["sentences"][j]["raw"]):

    captions_val2014.json: {"images": [{"id", "file_name"}],
                            "annotations": [{"id", "image_id", "caption"}]}
        image: <images>/<file_name>     (images = "coco/val2014")
    dataset_coco.json:     {"dataset": "coco", "images": [{"cocoid", "filepath", "filename",
                            "split": "train" | "restval" | "val" | "test", "sentences": [{"raw"}]}]}
        image: <images>/<filepath>/<filename>   (images = "coco")

One example per image; its references are all of its captions (CIDEr-D, corpus idf).
Split labels exist in Karpathy's file only. The prompt is lmms-eval's coco2014_cap_val one.
"""

from __future__ import annotations

from pathlib import Path

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
from .common import CAPTION, answer_strings, key_of, labels, load_json, top_list


@register_format
class CocoCaptions(Format):
    name = "coco_captions"
    paths = (
        PathField("annotations", many=True, help="captions_<subtype>.json or dataset_coco.json"),
        PathField("images", PathKind.DIR, help="the image folder (see the layouts above)"),
    )
    has_splits = True
    task_type = TaskType.CAPTIONING
    metric = Metric.CIDER_D
    prompt = CAPTION
    max_new_tokens = 64  # lmms-eval's coco2014_cap_val generation_kwargs
    fields = ()
    skill = "describe everyday photos (COCO) in one sentence, 5 human captions each"

    def read(self, source: Source, problems: Problems) -> Read:
        records = []
        for path in source.files("annotations"):
            data = load_json(path)
            if isinstance(data, dict) and "annotations" in data:
                records.extend(_official(data, path, source.path("images"), problems))
            elif isinstance(data, dict) and "dataset" in data:
                records.extend(_karpathy(data, path, source.path("images")))
            else:
                raise VlmpruneError(
                    f"{path.name}: neither COCO captions ('images' + 'annotations') "
                    "nor Karpathy's dataset_coco.json ('dataset' + 'images')"
                )
        return Read(records)


def _official(data: dict, path: Path, folder: Path, problems: Problems) -> list[Record]:
    captions: dict[int, list[str]] = {}
    for i, ann in enumerate(top_list(data, "annotations", path)):
        where = f"{path.name} annotation {i}"
        image_id = key_of(ann, "image_id", int, where)
        captions.setdefault(image_id, []).append(key_of(ann, "caption", str, where))
    records = []
    for i, image in enumerate(top_list(data, "images", path)):
        image_id = key_of(image, "id", int, f"{path.name} image {i}")
        where = f"{path.name} image id {image_id}"
        if image_id not in captions:
            problems.add(f"{where}: no caption annotation for this image")
            continue
        records.append(
            Record(
                key=str(image_id),
                where=where,
                fields={},
                answers=answer_strings(captions[image_id], where),
                image=FileImage(folder / key_of(image, "file_name", str, where)),
            )
        )
    return records


def _karpathy(data: dict, path: Path, folder: Path) -> list[Record]:
    records = []
    for i, image in enumerate(top_list(data, "images", path)):
        cocoid = key_of(image, "cocoid", int, f"{path.name} image {i}")
        where = f"{path.name} cocoid {cocoid}"
        sentences = key_of(image, "sentences", list, where)
        file = Path(key_of(image, "filepath", str, where)) / key_of(image, "filename", str, where)
        records.append(
            Record(
                key=str(cocoid),
                where=where,
                fields={},
                answers=answer_strings([key_of(s, "raw", str, where) for s in sentences], where),
                image=FileImage(folder / file),
                splits=labels(key_of(image, "split", str, where)),
            )
        )
    return records
