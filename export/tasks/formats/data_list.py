"""The layout TextVQA, ST-VQA and DocVQA share: {"data": [record, ...]} with answer lists.

Each subclass names its id key, how a record names its image, and where the split label
is (a record key, else a top-level key of the file), and supplies its own docstring with
the source of its layout.
"""

from __future__ import annotations

from typing import ClassVar

from .base import FileImage, Format, Problems, Read, Record, Source
from .common import answer_strings, key_of, labels, load_json, top_list


class DataListFormat(Format):
    id_key: ClassVar[str]
    record_split_key: ClassVar[str | None] = None
    file_split_key: ClassVar[str | None] = None

    def image_name(self, row: dict, where: str) -> str:
        """The image's path relative to `images`."""
        raise NotImplementedError

    def read(self, source: Source, problems: Problems) -> Read:
        records = []
        for path in source.files("annotations"):
            # Without `images`, paths are relative to the file (DocVQA ships them together).
            folder = source.path("images") or path.parent
            data = load_json(path)
            file_split = ""
            if self.file_split_key and isinstance(data, dict):
                file_split = str(data.get(self.file_split_key) or "")
            for i, row in enumerate(top_list(data, "data", path)):
                qid = key_of(row, self.id_key, (int, str), f"{path.name} record {i}")
                where = f"{path.name} {self.id_key} {qid}"
                if row.get("answers") is None:
                    problems.add(f"{where}: no 'answers' (a test file cannot be scored)")
                    continue
                split = row.get(self.record_split_key) if self.record_split_key else None
                records.append(
                    Record(
                        key=str(qid),
                        where=where,
                        fields={"question": key_of(row, "question", str, where)},
                        answers=answer_strings(row["answers"], where),
                        image=FileImage(folder / self.image_name(row, where)),
                        splits=labels(str(split or file_split)),
                    )
                )
        return Read(records)
