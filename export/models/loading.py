"""Load a VLM folder (or the embedded demo) with its adapter, tokenizer and preprocessing.

The folder is checked before its weights load: config.json and its `model_type` (both the
release layout of flat text fields and transformers 5.x's `text_config` are read by
AutoConfig), the adapter's side files (`ModelAdapter.read_folder`), and the weights
(single file or every shard of the index). Each problem is one line naming the file.
"""

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
from ...runtime.arch.llava import PREPROCESS_FILE
from ..errors import ModelLoadError, UnknownNameError
from . import hf_folder
from .adapter import ADAPTERS, ModelAdapter
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
    spec: object  # the runtime architecture's spec (to_dict, eos_token, pad_token, stop_tokens)
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
    def eos_ids(self) -> tuple[int, ...]:
        """Every token that ends generation, eos_id first."""
        ids = [self.tokenizer.token_to_id(t) for t in self.spec.stop_tokens]
        return tuple(dict.fromkeys([self.eos_id, *ids]))

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
    hf_logging.disable_progress_bar()  # one line per command, not a bar per weight file
    config_json = hf_folder.read_json(path, "config.json", required=True)
    model_type = config_json.get("model_type")
    if model_type not in supported_model_types():
        raise ModelLoadError(
            f"{path / 'config.json'}: model_type {model_type!r} is not a supported VLM "
            f"(supported: {', '.join(supported_model_types())})"
        )
    hf_folder.check_layer_types(path, config_json)
    try:
        config = AutoConfig.from_pretrained(path)
    except (OSError, ValueError, KeyError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelLoadError(
            f"{path / 'config.json'}: not a readable model config ({first})"
        ) from None
    preprocess, tokenizer = ADAPTERS.get(model_type).read_folder(path, config)
    hf_folder.weight_files(path)
    model = AutoModelForImageTextToText.from_pretrained(path, dtype=torch.float32).to(device).eval()
    adapter = _adapter(model, path)
    return LoadedVlm(name, model, adapter, tokenizer, preprocess, hash_model_dir(path), path)


def _adapter(model: PreTrainedModel, path: Path) -> ModelAdapter:
    try:
        return adapter_for(model)
    except UnknownNameError as exc:
        raise ModelLoadError(f"{path}: {exc}") from None


def hash_model_dir(path: Path) -> str:
    """sha256 of the files that define the model: config, weights, tokenizer, preprocessing.

    A folder with vlmprune_preprocess.json takes its stop tokens and template from it; a
    native folder also from its side files (and its weights may be shards).
    """
    digest = hashlib.sha256()
    names = list(_HASHED_FILES)
    if not (path / PREPROCESS_FILE).is_file():
        index = path / hf_folder.WEIGHTS_INDEX
        shards = [f.name for f in hf_folder.weight_files(path)] if index.is_file() else []
        names += [hf_folder.WEIGHTS_INDEX, *shards, *hf_folder.SIDE_FILES]
    for name in names:
        file = path / name
        if file.is_file():
            digest.update(name.encode())
            with file.open("rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    digest.update(chunk)
    return digest.hexdigest()


def hash_in_memory(model: PreTrainedModel, tokenizer: Tokenizer, spec: object) -> str:
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
