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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tokenizers import Tokenizer

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


@dataclass(frozen=True)
class TextFiles:
    """A folder's text side: tokenizer, chat template, special and stop tokens."""

    tokenizer: Tokenizer
    template: str
    template_file: Path  # where the template came from, for error messages
    specials: dict[str, str]  # template variables: bos_token, eos_token, ...
    image_token: str  # the token of config.json's image_token_id
    stop_tokens: tuple[str, ...]  # eos first
    pad_token: str


def read_text_files(folder: Path, config: Any) -> TextFiles:
    """tokenizer.json, tokenizer_config.json, the chat template and generation_config.json,
    with config.json's `image_token_id` checked to be a token of the tokenizer."""
    tokenizer = Tokenizer.from_file(str(tokenizer_json(folder)))
    tokenizer_config = read_json(folder, TOKENIZER_CONFIG, required=False)
    template, source = chat_template(folder)
    generation = read_json(folder, GENERATION_CONFIG, required=False)
    image_token = tokenizer.id_to_token(int(config.image_token_id))
    if image_token is None:
        raise ModelLoadError(
            f"{folder / 'config.json'}: field 'image_token_id' ({config.image_token_id}) is "
            f"not a token of {TOKENIZER_JSON}"
        )
    specials = {
        key: value
        for key in ("bos_token", "eos_token", "unk_token", "pad_token")
        if (value := special_token(tokenizer_config, key)) is not None
    }
    stops = stop_tokens(folder, tokenizer, tokenizer_config, generation, config)
    return TextFiles(
        tokenizer=tokenizer,
        template=template,
        template_file=folder / source,
        specials=specials,
        image_token=image_token,
        stop_tokens=stops,
        pad_token=pad_token(tokenizer, tokenizer_config, generation, stops[0]),
    )


def stop_tokens(
    folder: Path, tokenizer: Tokenizer, tokenizer_config: dict, generation: dict, config: Any
) -> tuple[str, ...]:
    """generation_config.json's eos ids (Qwen's releases: <|im_end|>, <|endoftext|>), else
    the tokenizer's eos token; the chat template ends a turn with the first."""
    ids = generation.get("eos_token_id", getattr(config, "eos_token_id", None))
    ids = [ids] if isinstance(ids, int) else list(ids or [])
    tokens = [tokenizer.id_to_token(int(i)) for i in ids]
    if any(t is None for t in tokens):
        raise ModelLoadError(
            f"{folder / GENERATION_CONFIG}: field 'eos_token_id' ({ids}) names ids that "
            f"are not in {TOKENIZER_JSON}"
        )
    eos = special_token(tokenizer_config, "eos_token")
    # generate stops at exactly generation_config's ids; the tokenizer's eos goes first
    ordered = sorted(tokens, key=lambda t: t != eos) if tokens else [eos] if eos else []
    if not ordered:
        raise ModelLoadError(
            f"{folder}: no stop token ({GENERATION_CONFIG} 'eos_token_id' or "
            f"{TOKENIZER_CONFIG} 'eos_token')"
        )
    return tuple(ordered)


def pad_token(tokenizer: Tokenizer, tokenizer_config: dict, generation: dict, eos: str) -> str:
    pad = special_token(tokenizer_config, "pad_token")
    if pad is None and isinstance(generation.get("pad_token_id"), int):
        pad = tokenizer.id_to_token(generation["pad_token_id"])
    return pad or eos  # the pad token's embedding never matters: padding is masked
