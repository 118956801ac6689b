"""The files of a Hugging Face model folder exactly as downloaded, read without transformers'
processor classes (which need torchvision for Qwen's video processor).

What a folder may hold, and where vlmprune looks:

- weights: `model.safetensors`, or `model.safetensors.index.json` and the shards it names;
- tokenizer: `tokenizer.json` (read by the `tokenizers` library, as on the device) and
  `tokenizer_config.json` (special tokens; may carry the chat template);
- chat template: `chat_template.jinja`, else `chat_template.json`, else the
  `chat_template` field of `tokenizer_config.json` (the order transformers' processors use);
- `preprocessor_config.json` (image processor), `generation_config.json` (stop tokens).

Every problem is one line naming the file and, where it applies, the field.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import ModelLoadError

WEIGHTS_FILE = "model.safetensors"
WEIGHTS_INDEX = "model.safetensors.index.json"
TOKENIZER_JSON = "tokenizer.json"
TOKENIZER_CONFIG = "tokenizer_config.json"
PREPROCESSOR_CONFIG = "preprocessor_config.json"
GENERATION_CONFIG = "generation_config.json"
CHAT_TEMPLATE_FILES = ("chat_template.jinja", "chat_template.json", TOKENIZER_CONFIG)
# Files that define a native folder's behaviour in vlmprune, beside config.json and weights.
SIDE_FILES = (
    TOKENIZER_CONFIG,
    PREPROCESSOR_CONFIG,
    GENERATION_CONFIG,
    "chat_template.jinja",
    "chat_template.json",
)


def read_json(folder: Path, name: str, required: bool, why: str = "") -> dict[str, Any]:
    """`folder/name` as a JSON object; {} when absent and not required."""
    path = folder / name
    if not path.is_file():
        if required:
            raise ModelLoadError(f"{folder}: {name} is missing{f' ({why})' if why else ''}")
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelLoadError(f"{path}: not readable JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ModelLoadError(f"{path}: must hold a JSON object, not {type(data).__name__}")
    return data


def weight_files(folder: Path) -> list[Path]:
    """The safetensors files of the folder; one clear error for a missing file or shard."""
    index = folder / WEIGHTS_INDEX
    if index.is_file():
        weight_map = read_json(folder, WEIGHTS_INDEX, required=True).get("weight_map")
        if not isinstance(weight_map, dict) or not weight_map:
            raise ModelLoadError(f"{index}: field 'weight_map' is missing or empty")
        shards = sorted(set(map(str, weight_map.values())))
        for shard in shards:
            if not (folder / shard).is_file():
                raise ModelLoadError(
                    f"{index}: field 'weight_map' names shard '{shard}', which is missing from {folder}"
                )
        return [folder / shard for shard in shards]
    if (folder / WEIGHTS_FILE).is_file():
        return [folder / WEIGHTS_FILE]
    raise ModelLoadError(f"{folder}: no weights ({WEIGHTS_FILE} or {WEIGHTS_INDEX} is missing)")


def tokenizer_json(folder: Path) -> Path:
    path = folder / TOKENIZER_JSON
    if not path.is_file():
        raise ModelLoadError(
            f"{folder}: {TOKENIZER_JSON} is missing (the tokenizer the runtime loads with `tokenizers`)"
        )
    return path


def chat_template(folder: Path) -> tuple[str, str]:
    """(template, the file it came from), in transformers' order of precedence."""
    jinja = folder / CHAT_TEMPLATE_FILES[0]
    if jinja.is_file():
        return jinja.read_text(encoding="utf-8"), jinja.name
    for name in CHAT_TEMPLATE_FILES[1:]:
        template = read_json(folder, name, required=False).get("chat_template")
        if isinstance(template, str) and template.strip():
            return template, name
        if template is not None and not isinstance(template, str):
            raise ModelLoadError(
                f"{folder / name}: field 'chat_template' must be a string (named templates are "
                "not supported)"
            )
    raise ModelLoadError(
        f"{folder}: no chat template (none of {', '.join(CHAT_TEMPLATE_FILES)} holds one)"
    )


def special_token(config: dict, key: str) -> str | None:
    """A special token of tokenizer_config.json: a string or {"content": ...}."""
    value = config.get(key)
    if isinstance(value, dict):
        value = value.get("content")
    return value if isinstance(value, str) else None


def check_layer_types(folder: Path, config: dict) -> None:
    """config.json's `layer_types` (flat, or under `text_config`) must list one entry per
    decoder block: removal re-slices it, and transformers' own check is a multi-line trace."""
    for where, section in (("", config), ("text_config.", config.get("text_config"))):
        if not isinstance(section, dict) or section.get("layer_types") is None:
            continue
        types, n = section["layer_types"], section.get("num_hidden_layers")
        if not isinstance(types, list):
            raise ModelLoadError(
                f"{folder / 'config.json'}: field '{where}layer_types' must be a list"
            )
        if isinstance(n, int) and len(types) != n:
            raise ModelLoadError(
                f"{folder / 'config.json'}: field '{where}layer_types' has {len(types)} entries "
                f"but '{where}num_hidden_layers' is {n} (one attention type per decoder block)"
            )


# The image steps every runtime image processor performs unconditionally.
IMAGE_STEPS = ("do_resize", "do_rescale", "do_normalize", "do_convert_rgb")


def require_image_steps(where: Path, preprocessor: dict) -> None:
    """preprocessor_config.json must leave each of IMAGE_STEPS on (absent counts as on)."""
    for flag in IMAGE_STEPS:
        if preprocessor.get(flag, True) is not True:
            raise ModelLoadError(
                f"{where}: field '{flag}' is {preprocessor[flag]!r}; only true is supported"
            )
