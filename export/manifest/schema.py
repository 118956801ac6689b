"""The manifest's JSON Schema (draft 2020-12), as data; `manifests/schema.json` is its copy.

Bump SCHEMA_VERSION for any change a reader must know about; the runtime refuses manifests
newer than it knows. Open objects (`latency`, `task_detector`, `provenance`,
`task_type_selection`) may gain fields without a bump.
"""

from __future__ import annotations

from ...runtime.arch import ARCHITECTURES
from ...runtime.decoders import DecoderLayout, DType, Precision

SCHEMA_VERSION = 1


def _architecture_schemas() -> list[tuple[tuple[str, ...], dict]]:
    """(model types, preprocessing schema) of every runtime architecture, in registry order."""
    seen: dict[type, None] = dict.fromkeys(ARCHITECTURES.values())
    return [(cls.model_types, cls.preprocessing_schema) for cls in seen]


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
                # The decoder graphs' I/O (docs/contracts.md); absent: traced.
                "decoder_layout": {"enum": [x.value for x in DecoderLayout]},
            },
        },
        # Common fields here; each architecture's own (`preprocessing_schema` of its runtime
        # module) apply by `model.architecture`, in `allOf` below.
        "preprocessing": {
            "type": "object",
            "required": [
                "image_token_id",
                "tokenizer_file",
                "tokenizer_sha256",
                "eos_token",
                "pad_token",
            ],
            "properties": {
                "image_token_id": {"type": "integer", "minimum": 0},
                "tokenizer_file": {"$ref": "#/$defs/relpath"},
                "tokenizer_sha256": {"$ref": "#/$defs/sha256"},
                "eos_token": {"type": "string"},
                "pad_token": {"type": "string"},
            },
        },
        "generation": {
            "type": "object",
            "required": ["eos_token_id", "pad_token_id", "max_new_tokens", "context_length"],
            "additionalProperties": False,
            "properties": {
                "eos_token_id": {"type": "integer", "minimum": 0},
                "eos_token_ids": {  # every stop token, eos_token_id first (absent: just it)
                    "type": "array",
                    "items": {"type": "integer", "minimum": 0},
                    "minItems": 1,
                },
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
                # One draw seed, or dataset -> seed where a suite file's tables differ.
                "seed": {
                    "oneOf": [
                        {"type": "integer"},
                        {"type": "object", "additionalProperties": {"type": "integer"}},
                    ]
                },
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
                # Of the decoder's MatMul weights; absent: fp32.
                "precision": {"enum": [x.value for x in Precision]},
                "quantization": {
                    "type": "object",
                    "required": ["method", "parity", "fp32_scores", "score_change"],
                    "properties": {
                        "method": {"type": "string"},
                        "parity": {
                            "type": "object",
                            "required": ["greedy_identical", "n"],
                        },
                        "fp32_scores": {
                            "type": "object",
                            "additionalProperties": {"type": "number"},
                        },
                        "score_change": {
                            "type": "object",
                            "additionalProperties": {"type": "number"},
                        },
                    },
                },
                # Of the decoder's weights and activations; absent: fp32.
                "dtype": {"enum": [x.value for x in DType]},
                # An fp16 variant: its graph against PyTorch fp32, where a provider ran it.
                "fp16": {
                    "type": "object",
                    "required": ["method", "provider", "parity", "fp32_scores", "score_change"],
                    "properties": {
                        "method": {"type": "string"},
                        "provider": {"type": "string"},
                        "parity": {
                            "type": ["object", "null"],
                            "required": ["greedy_identical", "n"],
                        },
                        "not_measured": {"type": "string"},
                        "fp32_scores": {
                            "type": "object",
                            "additionalProperties": {"type": "number"},
                        },
                        "score_change": {
                            "type": "object",
                            "additionalProperties": {"type": "number"},
                        },
                    },
                },
                # A folder onnxruntime-genai opens (`onnxruntime_genai.Model(dir)`), if written.
                "genai_dir": {"$ref": "#/$defs/relpath"},
                "genai_parity": {
                    "type": "object",
                    "required": ["greedy_identical", "n"],
                    "properties": {
                        "greedy_identical": {"type": "integer", "minimum": 0},
                        "n": {"type": "integer", "minimum": 0},
                    },
                },
            },
        },
    },
    "allOf": [
        {
            "if": {
                "properties": {"model": {"properties": {"architecture": {"enum": list(types)}}}}
            },
            "then": {"properties": {"preprocessing": schema}},
        }
        for types, schema in _architecture_schemas()
    ],
}
