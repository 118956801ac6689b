"""Tiny random SmolVLM / Idefics3 models built in-process (no download): a 4-block Llama
decoder (`model.model.text_model`), a 2-block SigLIP vision tower on 32-pixel tiles with
8-pixel patches, and the pixel-shuffle connector (scale_factor 2: 16 patches -> 4 image
tokens per tile). Norm weights are perturbed (transformers initialises them to 1; a
converter that dropped one would go unseen).
"""

from __future__ import annotations

import torch

KINDS = ("smolvlm", "idefics3")
VOCAB = 96
IMAGE_TOKEN_ID = 90
TILE = 32
IMAGE_SEQ_LEN = 4  # (TILE // patch) ** 2 / scale_factor ** 2


def tiny_config(kind: str):
    from transformers import Idefics3Config, SmolVLMConfig

    cls = SmolVLMConfig if kind == "smolvlm" else Idefics3Config
    text = dict(
        model_type="llama",
        vocab_size=VOCAB,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=4,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        pad_token_id=0,
    )
    vision = dict(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        image_size=TILE,
        patch_size=8,
    )
    return cls(
        text_config=text, vision_config=vision, scale_factor=2, image_token_id=IMAGE_TOKEN_ID
    )


def tiny_model(kind: str, seed: int = 0):
    from transformers import AutoModelForImageTextToText

    torch.manual_seed(seed)
    model = AutoModelForImageTextToText.from_config(tiny_config(kind)).eval()
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "norm" in name and name.endswith("weight"):
                param.add_(torch.randn_like(param) * 0.1)
    return model


def image_folder(kind: str, folder, **processor_fields):
    """`folder` with config.json, preprocessor_config.json (as transformers' PIL image
    processor saves it) and processor_config.json's image_seq_len, as a release has them."""
    import json
    from pathlib import Path

    if kind == "smolvlm":
        from transformers.models.smolvlm import SmolVLMImageProcessorPil as cls
    else:
        from transformers.models.idefics3 import Idefics3ImageProcessorPil as cls
    folder = Path(folder)
    tiny_config(kind).save_pretrained(folder)
    fields = {"size": {"longest_edge": 3 * TILE}, "max_image_size": {"longest_edge": TILE}}
    cls(**{**fields, **processor_fields}).save_pretrained(folder)
    (folder / "processor_config.json").write_text(json.dumps({"image_seq_len": IMAGE_SEQ_LEN}))
    return folder
