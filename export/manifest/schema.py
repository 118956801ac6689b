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

_RATE = {"type": "number", "minimum": 0, "maximum": 1}
# Format 2 (runtime/detect.py); the runtime reads an older format's manifest but not its
# detector, so the schema describes format 2 only.
_TASK_DETECTOR = {
    "description": "Prompt -> task type: softmax regression over word and character n-grams.",
    "type": "object",
    "required": [
        "kind",
        "format_version",
        "threshold",
        "calibration",
        "labels",
        "scripts",
        "featurizer",
        "features",
        "weights_int8",
        "weight_scale",
        "bias",
    ],
    "properties": {
        "kind": {"const": "ngram_logreg"},
        "format_version": {"const": 2},
        "threshold": _RATE,
        "calibration": {
            "type": "object",
            "required": ["target_wrong_rate", "n", "wrong_rate", "wrong_rate_upper95"],
            "properties": {
                "target_wrong_rate": _RATE,
                "n": {"type": "integer", "minimum": 0},
                "wrong_rate": _RATE,
                "wrong_rate_upper95": _RATE,
                "right_rate": _RATE,
                "fallback_rate": _RATE,
            },
        },
        "labels": {
            "type": "array",
            "items": {"type": "string"},
            "minItems": 2,
            "uniqueItems": True,
        },
        "scripts": {"type": "array", "items": {"type": "string"}},
        "featurizer": {
            "type": "object",
            "properties": {
                "word_classes": {"type": "object", "additionalProperties": {"type": "string"}},
                "char_ngrams": {
                    "type": "array",
                    "items": {"type": "integer", "minimum": 0},
                    "minItems": 2,
                    "maxItems": 2,
                },
            },
        },
        "features": {"type": "array", "items": {"type": "string"}, "uniqueItems": True},
        "weights_int8": {"type": "string", "contentEncoding": "base64"},
        "weight_scale": {"type": "array", "items": {"type": "number", "exclusiveMinimum": 0}},
        "bias": {"type": "array", "items": {"type": "number"}},
        "provenance": {"type": "object"},
    },
}

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
        "task_detector": {"oneOf": [{"type": "null"}, {"$ref": "#/$defs/task_detector"}]},
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
        "task_detector": _TASK_DETECTOR,
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
