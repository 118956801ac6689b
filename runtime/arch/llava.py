"""Image and prompt preprocessing from a plain spec (no torch, no transformers).

The builder evaluates with this same code, so the runtime's inputs match the PyTorch
evaluation's inputs by construction; a test checks it against transformers' CLIP processor.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

PREPROCESS_FILE = "vlmprune_preprocess.json"  # stored beside config.json in a model folder


@dataclass(frozen=True)
class PreprocessSpec:
    image_size: int  # square input side in pixels
    image_mean: tuple[float, float, float]
    image_std: tuple[float, float, float]
    image_token: str  # placeholder token, repeated num_image_tokens times in the prompt
    num_image_tokens: int
    prompt_template: str  # holds "{image}" and "{prompt}"
    tokenizer_file: str = "tokenizer.json"
    eos_token: str = "</s>"
    pad_token: str = "<pad>"
    bos_token: str | None = "<s>"
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["image_mean"] = list(self.image_mean)
        d["image_std"] = list(self.image_std)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> PreprocessSpec:
        known = {k: d[k] for k in cls.__dataclass_fields__ if k in d}
        known["image_mean"] = tuple(float(x) for x in known["image_mean"])
        known["image_std"] = tuple(float(x) for x in known["image_std"])
        return cls(**known)

    @classmethod
    def load(cls, folder: str | Path) -> PreprocessSpec:
        return cls.from_dict(json.loads((Path(folder) / PREPROCESS_FILE).read_text()))


def preprocess_image(image: Image.Image, spec: PreprocessSpec) -> np.ndarray:
    """PIL image -> float32 (3, S, S), CLIP-style: RGB, bicubic resize, rescale, normalise."""
    if image.mode != "RGB":
        image = image.convert("RGB")
    if image.size != (spec.image_size, spec.image_size):
        image = image.resize((spec.image_size, spec.image_size), Image.Resampling.BICUBIC)
    pixels = np.asarray(image, dtype=np.float32) / 255.0  # (S, S, 3)
    mean = np.asarray(spec.image_mean, dtype=np.float32)
    std = np.asarray(spec.image_std, dtype=np.float32)
    return ((pixels - mean) / std).transpose(2, 0, 1).copy()


def format_prompt(prompt: str, spec: PreprocessSpec) -> str:
    """The model's text input: template with the image placeholder expanded."""
    image = spec.image_token * spec.num_image_tokens
    return spec.prompt_template.format(image=image, prompt=prompt.strip())
