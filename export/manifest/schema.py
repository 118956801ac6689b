"""The manifest's JSON Schema (draft 2020-12), as data; `manifests/schema.json` is its copy.

Bump SCHEMA_VERSION for any change a reader must know about; the runtime refuses manifests
newer than it knows. Open objects (`latency`, `task_detector`, `provenance`,
`task_type_selection`) may gain fields without a bump.
"""

from __future__ import annotations

SCHEMA_VERSION = 1

_NAME = {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9_.-]*$"}
_BLOCKS = {"type": "array", "items": {"type": "integer", "minimum": 0}, "uniqueItems": True}
_NUMBER_OR_NULL = {"type": ["number", "null"]}

MANIFEST_SCHEMA: dict = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "urn:vlmprune:manifest:1",
    "title": "vlmprune manifest",
    "description": "Exported ONNX variants of one VLM; paths are relative to this file's folder.",
    "type": "object",
    "required": [
        "schema_version",
        "model",
        "preprocessing",
        "generation",
        "shared",
        "default_variant",
        "variants",
        "dataset_to_variant",
        "task_type_to_variant",
        "provenance",
    ],
    "additionalProperties": False,
    "properties": {
        "schema_version": {"const": SCHEMA_VERSION},
        "model": {
            "type": "object",
            "required": [
                "id",
                "hash",
                "architecture",
                "num_blocks",
                "hidden_size",
                "vocab_size",
                "num_key_value_heads",
                "head_dim",
            ],
            "additionalProperties": False,
            "properties": {
                "id": {"type": "string", "minLength": 1},
                "hash": {"$ref": "#/$defs/sha256"},
                "architecture": {"type": "string"},
                "num_blocks": {"type": "integer", "minimum": 1},
                "hidden_size": {"type": "integer", "minimum": 1},
                "vocab_size": {"type": "integer", "minimum": 1},
                "num_key_value_heads": {"type": "integer", "minimum": 1},
                "head_dim": {"type": "integer", "minimum": 1},
            },
        },
        "preprocessing": {
            "type": "object",
            "required": [
                "image_size",
                "image_mean",
                "image_std",
                "image_token",
                "image_token_id",
                "num_image_tokens",
                "prompt_template",
                "tokenizer_file",
                "tokenizer_sha256",
                "eos_token",
                "pad_token",
            ],
            "properties": {
                "image_size": {"type": "integer", "minimum": 1},
                "image_mean": {
                    "type": "array",
                    "items": {"type": "number"},
                    "minItems": 3,
                    "maxItems": 3,
                },
                "image_std": {
                    "type": "array",
                    "items": {"type": "number", "exclusiveMinimum": 0},
                    "minItems": 3,
                    "maxItems": 3,
                },
                "image_token": {"type": "string", "minLength": 1},
                "image_token_id": {"type": "integer", "minimum": 0},
                "num_image_tokens": {"type": "integer", "minimum": 1},
                "prompt_template": {
                    "type": "string",
                    "allOf": [{"pattern": "\\{image\\}"}, {"pattern": "\\{prompt\\}"}],
                },
                "tokenizer_file": {"$ref": "#/$defs/relpath"},
                "tokenizer_sha256": {"$ref": "#/$defs/sha256"},
                "eos_token": {"type": "string"},
                "pad_token": {"type": "string"},
                "bos_token": {"type": ["string", "null"]},
                "extra": {"type": "object"},
            },
        },
        "generation": {
            "type": "object",
            "required": ["eos_token_id", "pad_token_id", "max_new_tokens", "context_length"],
            "additionalProperties": False,
            "properties": {
                "eos_token_id": {"type": "integer", "minimum": 0},
                "pad_token_id": {"type": "integer", "minimum": 0},
                "max_new_tokens": {"type": "integer", "minimum": 1},
                "context_length": {"type": "integer", "minimum": 1},
            },
        },
        "shared": {
            "type": "object",
            "required": ["weights", "vision_encoder", "embed_tokens"],
            "additionalProperties": False,
            "properties": {
                "weights": {"$ref": "#/$defs/file"},
                "vision_encoder": {"$ref": "#/$defs/file"},
                "embed_tokens": {"$ref": "#/$defs/file"},
            },
        },
        "default_variant": _NAME,
        "variants": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/variant"}},
        "dataset_to_variant": {"type": "object", "additionalProperties": _NAME},
        "task_type_to_variant": {"type": "object", "additionalProperties": _NAME},
        "task_type_selection": {"type": "object"},
        "task_detector": {
            "type": ["object", "null"],
            "required": ["kind", "threshold"],
            "properties": {"threshold": {"type": "number", "minimum": 0, "maximum": 1}},
        },
        "provenance": {
            "type": "object",
            "required": ["tool_version", "created", "model_hash", "split", "n", "seed"],
            "properties": {
                "tool_version": {"type": "string"},
                "created": {"type": "string"},
                "model_hash": {"$ref": "#/$defs/sha256"},
                "split": {"enum": ["calib", "test"]},
                "n": {"type": "integer", "minimum": 0},
                "seed": {"type": "integer"},
            },
        },
    },
    "$defs": {
        "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
        "relpath": {
            "description": "Relative to the manifest's folder; no absolute paths, no '..', '/' only.",
            "type": "string",
            "minLength": 1,
            "not": {
                "anyOf": [
                    {"pattern": "^/"},
                    {"pattern": "^[A-Za-z]:"},
                    {"pattern": "\\\\"},
                    {"pattern": "(^|/)\\.\\.(/|$)"},
                ]
            },
        },
        "file": {
            "type": "object",
            "required": ["path", "sha256", "size"],
            "additionalProperties": False,
            "properties": {
                "path": {"$ref": "#/$defs/relpath"},
                "sha256": {"$ref": "#/$defs/sha256"},
                "size": {"type": "integer", "minimum": 0},
            },
        },
        "variant": {
            "type": "object",
            "required": [
                "name",
                "objective",
                "task_type",
                "removed_blocks",
                "kept_blocks",
                "files",
                "scores",
                "expected_drop",
                "parity",
                "latency",
            ],
            "additionalProperties": False,
            "properties": {
                "name": _NAME,
                "objective": {"type": "string", "minLength": 1},
                "task_type": {"type": ["string", "null"]},
                "removed_blocks": _BLOCKS,
                "kept_blocks": {**_BLOCKS, "minItems": 1},
                "files": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/file"}},
                "scores": {"type": "object", "additionalProperties": {"type": "number"}},
                "expected_drop": _NUMBER_OR_NULL,
                "parity": {
                    "type": "object",
                    "required": [
                        "prefill_max_abs_diff",
                        "decode_max_abs_diff",
                        "atol",
                        "greedy_identical",
                        "n",
                    ],
                },
                "latency": {"type": ["object", "null"]},
            },
        },
    },
}
