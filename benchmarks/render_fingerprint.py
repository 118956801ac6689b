"""Print a sha256 of the first calib images of every dataset: compares PIL rendering
across machines (the demo is trained on the GPU machine and evaluated elsewhere)."""

import hashlib

from vlmprune.export.tasks.base import Split
from vlmprune.export.tasks.catalog import all_datasets

if __name__ == "__main__":
    import PIL

    print("pillow", PIL.__version__)
    for dataset in all_datasets():
        digest = hashlib.sha256()
        for example in dataset.examples(Split.CALIB, 20):
            digest.update(example.image.tobytes())
        print(dataset.name, digest.hexdigest()[:16])
