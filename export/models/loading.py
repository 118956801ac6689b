"""Load a VLM folder (or the embedded demo) with its adapter, tokenizer and preprocessing."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import torch
from tokenizers import Tokenizer
from transformers import AutoConfig, AutoModelForImageTextToText, PreTrainedModel
from transformers.utils import logging as hf_logging

from ...runtime.arch.base import Architecture
from ...runtime.arch.llava import PREPROCESS_FILE, PreprocessSpec
from ..errors import ModelLoadError, UnknownNameError
from .adapter import ModelAdapter
from .architectures import adapter_for, supported_model_types

DEMO_DIR = Path(__file__).parent / "demo"
DEMO_NAME = "demo"
_HASHED_FILES = ("config.json", "model.safetensors", "tokenizer.json", PREPROCESS_FILE)


@dataclass
class LoadedVlm:
    name: str  # "demo" or the folder's name
    model: PreTrainedModel  # eval mode, fp32
    adapter: ModelAdapter
    tokenizer: Tokenizer
    spec: PreprocessSpec
    model_hash: str  # sha256 of the files (or the weights) that define the model
    path: Path | None = None

    @property
    def arch(self) -> Architecture:
        """The runtime's architecture module for this model: preprocessing, prompt, merge."""
        return self.adapter.runtime_architecture(self.model, self.spec)

    @property
    def num_blocks(self) -> int:
        return self.adapter.original_num_blocks(self.model)

    @property
    def eos_id(self) -> int:
        return self.tokenizer.token_to_id(self.spec.eos_token)

    @property
    def pad_id(self) -> int:
        return self.tokenizer.token_to_id(self.spec.pad_token)


def resolve_model_path(spec: str) -> tuple[str, Path]:
    if spec == DEMO_NAME:
        if not (DEMO_DIR / "config.json").is_file():
            raise ModelLoadError(
                f"the embedded demo model is missing from this install ({DEMO_DIR})"
            )
        return DEMO_NAME, DEMO_DIR
    path = Path(spec)
    if not path.exists():
        raise ModelLoadError(f"model path '{spec}' does not exist (give a model folder or 'demo')")
    if not (path / "config.json").is_file():
        raise ModelLoadError(f"'{spec}' is not a model folder: config.json is missing")
    return path.resolve().name, path


def load_vlm(spec: str = DEMO_NAME, device: str = "cpu") -> LoadedVlm:
    """Load `spec` ('demo' or a folder) in fp32 on `device`, or raise one clear error."""
    name, path = resolve_model_path(spec)
    try:
        model_type = AutoConfig.from_pretrained(path).model_type
    except (OSError, ValueError, KeyError) as exc:
        raise ModelLoadError(
            f"{path / 'config.json'}: not a readable model config ({exc})"
        ) from None
    if model_type not in supported_model_types():
        raise ModelLoadError(
            f"{path}: model_type '{model_type}' is not a supported VLM (supported: {', '.join(supported_model_types())})"
        )
    hf_logging.disable_progress_bar()  # one line per command, not a bar per weight file
    model = AutoModelForImageTextToText.from_pretrained(path, dtype=torch.float32).to(device).eval()
    adapter = _adapter(model, path)
    spec_file = path / PREPROCESS_FILE
    if not spec_file.is_file():
        raise ModelLoadError(
            f"{path}: {PREPROCESS_FILE} is missing (image size, mean/std, template)"
        )
    preprocess = PreprocessSpec.load(path)
    tokenizer_file = path / preprocess.tokenizer_file
    if not tokenizer_file.is_file():
        raise ModelLoadError(f"{path}: tokenizer file '{preprocess.tokenizer_file}' is missing")
    tokenizer = Tokenizer.from_file(str(tokenizer_file))
    return LoadedVlm(name, model, adapter, tokenizer, preprocess, hash_model_dir(path), path)


def _adapter(model: PreTrainedModel, path: Path) -> ModelAdapter:
    try:
        return adapter_for(model)
    except UnknownNameError as exc:
        raise ModelLoadError(f"{path}: {exc}") from None


def hash_model_dir(path: Path) -> str:
    digest = hashlib.sha256()
    for name in _HASHED_FILES:
        file = path / name
        if file.is_file():
            digest.update(name.encode())
            with file.open("rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    digest.update(chunk)
    return digest.hexdigest()


def hash_in_memory(model: PreTrainedModel, tokenizer: Tokenizer, spec: PreprocessSpec) -> str:
    """Hash of a model that has no folder (the tests' tiny models)."""
    digest = hashlib.sha256(
        json.dumps(model.config.to_dict(), sort_keys=True, default=str).encode()
    )
    for key, tensor in sorted(model.state_dict().items()):
        digest.update(key.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    digest.update(tokenizer.to_str().encode())
    digest.update(json.dumps(spec.to_dict(), sort_keys=True).encode())
    return digest.hexdigest()
