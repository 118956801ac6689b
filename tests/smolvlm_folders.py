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


# The releases' added tokens (the subset the processor and chat template use), in order.
ADDED = [
    "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|begin_of_text|>",
    "<fake_token_around_image>", "<image>", "<end_of_utterance>", "<global-img>",
    *[f"<row_{r}_col_{c}>" for r in range(1, 7) for c in range(1, 7)],
]  # fmt: skip
# SmolVLM-Instruct's chat template (chat_template.json) and Idefics3-8B-Llama3's
# (tokenizer_config.json): the same turn layout, a different first token.
_TURNS = (
    "{% for message in messages %}{{message['role'] | capitalize}}"
    "{% if message['content'][0]['type'] == 'image' %}{{':'}}{% else %}{{': '}}{% endif %}"
    "{% for line in message['content'] %}{% if line['type'] == 'text' %}{{line['text']}}"
    "{% elif line['type'] == 'image' %}{{ '<image>' }}{% endif %}{% endfor %}"
    "<end_of_utterance>\n{% endfor %}{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}"
)
CHAT_TEMPLATES = {"smolvlm": "<|im_start|>" + _TURNS, "idefics3": "<|begin_of_text|>" + _TURNS}


def train_tokenizer(vocab_size: int = 400):
    """Byte-level BPE (as SmolVLM's GPT-2-style tokenizer.json) with the added tokens."""
    from qwen_folders import CORPUS, QWEN_SPLIT
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(QWEN_SPLIT), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator([*CORPUS, "User: Assistant:"] * 8, trainer=trainer)
    tok.add_tokens([AddedToken(t, special=True, normalized=False) for t in ADDED])
    return tok


def build_model(kind: str, tok, seed: int = 0, text_layers: int = 4):
    """A tiny random model whose vocabulary and image token come from `tok`, with
    generation_config's stop tokens as a release's (end of utterance, end of text)."""
    from transformers import AutoModelForImageTextToText

    ids = {t: tok.token_to_id(t) for t in ADDED}
    config = tiny_config(kind)
    text = config.text_config
    text.vocab_size = (tok.get_vocab_size() + 63) // 64 * 64  # padded, as the releases are
    text.num_hidden_layers = text_layers
    text.pad_token_id, text.bos_token_id = ids["<|endoftext|>"], ids["<|im_start|>"]
    text.eos_token_id = ids["<end_of_utterance>"]
    config.image_token_id = ids["<image>"]
    config.tie_word_embeddings = text.tie_word_embeddings = False
    torch.manual_seed(seed)
    model = AutoModelForImageTextToText.from_config(config).eval()
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        model.lm_head.weight.mul_(8.0)  # decisive greedy picks: near-ties make parity noisy
        for name, param in model.named_parameters():
            if "norm" in name and name.endswith("weight"):
                param.add_(torch.randn(param.shape, generator=g) * 0.1)
            elif name.endswith(".bias"):
                param.add_(torch.randn(param.shape, generator=g) * 0.05)
    gen = model.generation_config
    gen.bos_token_id, gen.pad_token_id = text.bos_token_id, text.pad_token_id
    gen.eos_token_id = [ids["<end_of_utterance>"], ids["<|endoftext|>"]]
    return model


def tokenizer_config(tok, kind: str) -> dict:
    out = {
        "added_tokens_decoder": {
            str(tok.token_to_id(t)): {
                "content": t,
                "lstrip": False,
                "normalized": False,
                "rstrip": False,
                "single_word": False,
                "special": True,
            }
            for t in ADDED
        },  # fmt: skip
        "additional_special_tokens": ["<fake_token_around_image>", "<image>", "<end_of_utterance>"],
        "bos_token": "<|im_start|>" if kind == "smolvlm" else "<|begin_of_text|>",
        "eos_token": "<end_of_utterance>",
        "pad_token": "<|endoftext|>",
        "unk_token": "<|endoftext|>",
        "clean_up_tokenization_spaces": False,
        "model_max_length": 8192,
        "tokenizer_class": "GPT2Tokenizer",
    }
    if kind == "idefics3":  # Idefics3 keeps its template in tokenizer_config.json
        out["chat_template"] = CHAT_TEMPLATES[kind]
    return out


def write_folder(model, tok, kind: str, folder, **processor_fields):
    """The model saved as a download looks: weights, config, tokenizer, chat template and
    processor files."""
    import json
    import shutil
    from pathlib import Path

    folder = Path(folder)
    if folder.exists():
        shutil.rmtree(folder)
    image_folder(kind, folder, **processor_fields)
    model.save_pretrained(folder)  # config.json (replacing image_folder's), generation_config
    tok.save(str(folder / "tokenizer.json"))
    (folder / "tokenizer_config.json").write_text(json.dumps(tokenizer_config(tok, kind)))
    if kind == "smolvlm":
        (folder / "chat_template.json").write_text(
            json.dumps({"chat_template": CHAT_TEMPLATES[kind]})
        )
    processor = {"image_seq_len": IMAGE_SEQ_LEN, "processor_class": f"{model.__class__.__name__}"}
    (folder / "processor_config.json").write_text(json.dumps(processor))
    return folder


def make_folder(kind: str, folder, seed: int = 0, **processor_fields):
    tok = train_tokenizer()
    return write_folder(build_model(kind, tok, seed), tok, kind, folder, **processor_fields)
