"""Tiny random Gemma3 (`Gemma3ForConditionalGeneration`) models built in-process (no download).

Six decoder blocks alternate sliding and full attention (`layer_types` is given explicitly,
not derived from `sliding_window_pattern`, so removal must keep it), the window is 4 tokens
so test prompts run well past it, the two RoPEs have different bases, and the SigLIP tower
sees 32 x 32 images in 8-pixel patches that the projector average-pools to 4 tokens.
Norm weights and biases are perturbed (transformers initialises them to constants; a
converter that dropped one would go unseen).
"""

from __future__ import annotations

import torch

VOCAB = 128
PAD, EOS, BOS = 0, 1, 2
BOI, EOI, IMAGE = 125, 126, 127
SLIDING_WINDOW = 4
MM_TOKENS = 4  # image tokens per image (2 x 2 after the projector's pooling)
IMAGE_SIZE = 32
LAYER_TYPES = [
    "sliding_attention", "sliding_attention", "full_attention",
    "sliding_attention", "sliding_attention", "full_attention",
]  # fmt: skip


def build_model(seed: int = 0) -> torch.nn.Module:
    """A tiny random Gemma3 in eval mode."""
    from transformers import Gemma3Config, Gemma3ForConditionalGeneration

    text = dict(
        vocab_size=VOCAB,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=len(LAYER_TYPES),
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=16,
        query_pre_attn_scalar=16,
        max_position_embeddings=512,
        sliding_window=SLIDING_WINDOW,
        layer_types=list(LAYER_TYPES),
        rope_parameters={
            "sliding_attention": {"rope_type": "default", "rope_theta": 10.0},
            "full_attention": {"rope_type": "default", "rope_theta": 10000.0},
        },
        pad_token_id=PAD,
        eos_token_id=EOS,
        bos_token_id=BOS,
    )
    vision = dict(
        model_type="siglip_vision_model",
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        image_size=IMAGE_SIZE,
        patch_size=8,
        vision_use_head=False,
    )
    config = Gemma3Config(
        text_config=text,
        vision_config=vision,
        mm_tokens_per_image=MM_TOKENS,
        boi_token_index=BOI,
        eoi_token_index=EOI,
        image_token_index=IMAGE,
    )
    config.pad_token_id, config.eos_token_id, config.bos_token_id = PAD, EOS, BOS
    torch.manual_seed(seed)
    model = Gemma3ForConditionalGeneration(config)
    _perturb(model, seed)
    return model.eval()


def _perturb(model: torch.nn.Module, seed: int) -> None:
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for p in model.parameters():
            if p.ndim == 1:
                p.add_(0.1 * torch.randn(p.shape, generator=g))


def image_prompt(text_ids: list[int], before: int = 2) -> list[int]:
    """BOS, some text, BOI, the image tokens, EOI, more text: the layout Gemma3Processor makes."""
    return [BOS, *text_ids[:before], BOI, *[IMAGE] * MM_TOKENS, EOI, *text_ids[before:]]


def pixel_values(n: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, IMAGE_SIZE, IMAGE_SIZE, generator=g) * 2 - 1


# --- a tiny folder as a release is downloaded -------------------------------------------

# The releases' added tokens that the processor and chat template use (Gemma3's ids differ).
ADDED = [
    "<pad>", "<eos>", "<bos>", "<start_of_turn>", "<end_of_turn>",
    "<start_of_image>", "<end_of_image>", "<image_soft_token>",
]  # fmt: skip
# gemma-3-4b-it's chat template, the system-prompt branch aside: bos first, `| trim` on the
# user's text, the image written as <start_of_image>.
CHAT_TEMPLATE = (
    "{{ bos_token }}{%- for message in messages -%}"
    "{%- if message['role'] == 'assistant' -%}{%- set role = 'model' -%}"
    "{%- else -%}{%- set role = message['role'] -%}{%- endif -%}"
    "{{ '<start_of_turn>' + role + '\\n' }}"
    "{%- if message['content'] is string -%}{{ message['content'] | trim }}"
    "{%- elif message['content'] is iterable -%}{%- for item in message['content'] -%}"
    "{%- if item['type'] == 'image' -%}{{ '<start_of_image>' }}"
    "{%- elif item['type'] == 'text' -%}{{ item['text'] | trim }}{%- endif -%}"
    "{%- endfor -%}{%- endif -%}{{ '<end_of_turn>\\n' }}{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<start_of_turn>model\\n' }}{%- endif -%}"
)


def train_tokenizer(vocab_size: int = 300):
    """Byte-level BPE with the added tokens and, as Gemma's tokenizer.json, a post-processor
    that puts <bos> first (the chat template writes it too: the prompt must not get two)."""
    from qwen_folders import CORPUS
    from tokenizers import (
        AddedToken,
        Tokenizer,
        decoders,
        models,
        pre_tokenizers,
        processors,
        trainers,
    )

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator([*CORPUS, "user model"] * 8, trainer=trainer)
    tok.add_tokens([AddedToken(t, special=True, normalized=False) for t in ADDED])
    bos = tok.token_to_id("<bos>")
    tok.post_processor = processors.TemplateProcessing(
        single="<bos> $A", pair="<bos> $A <bos> $B", special_tokens=[("<bos>", bos)]
    )
    return tok


def folder_model(tok, seed: int = 0) -> torch.nn.Module:
    """The tiny model with the tokenizer's ids, stop tokens as the releases' (<eos>,
    <end_of_turn>) and decisive greedy picks (a scaled LM head: near-ties make parity noisy)."""
    ids = {t: tok.token_to_id(t) for t in ADDED}
    model = build_model(seed)
    config = model.config
    text = config.text_config
    vocab = (tok.get_vocab_size() + 63) // 64 * 64
    config.image_token_id, config.boi_token_id = ids["<image_soft_token>"], ids["<start_of_image>"]
    config.eoi_token_id = ids["<end_of_image>"]
    text.pad_token_id, text.eos_token_id, text.bos_token_id = (
        ids["<pad>"], ids["<eos>"], ids["<bos>"],
    )  # fmt: skip
    config.pad_token_id, config.eos_token_id, config.bos_token_id = (
        text.pad_token_id, text.eos_token_id, text.bos_token_id,
    )  # fmt: skip
    model.resize_token_embeddings(vocab, mean_resizing=False)
    text.vocab_size = vocab
    with torch.no_grad():
        model.lm_head.weight.mul_(8.0)
    gen = model.generation_config
    gen.bos_token_id, gen.pad_token_id = text.bos_token_id, text.pad_token_id
    gen.eos_token_id = [ids["<eos>"], ids["<end_of_turn>"]]
    return model.eval()


def tokenizer_config(tok) -> dict:
    return {
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
        "bos_token": "<bos>",
        "eos_token": "<eos>",
        "pad_token": "<pad>",
        "unk_token": "<pad>",
        "boi_token": "<start_of_image>",
        "eoi_token": "<end_of_image>",
        "image_token": "<image_soft_token>",
        "extra_special_tokens": {
            "boi_token": "<start_of_image>",
            "eoi_token": "<end_of_image>",
            "image_token": "<image_soft_token>",
        },
        "clean_up_tokenization_spaces": False,
        "model_max_length": 8192,
        "tokenizer_class": "PreTrainedTokenizerFast",  # GemmaTokenizer rebuilds the BPE with an unk
        "chat_template": CHAT_TEMPLATE,
    }


def write_folder(model, tok, folder, **preprocessor_fields):
    """Weights, config, tokenizer files, chat template, preprocessor and processor configs."""
    import json
    import shutil
    from pathlib import Path

    from transformers.models.gemma3 import Gemma3ImageProcessorPil

    folder = Path(folder)
    if folder.exists():
        shutil.rmtree(folder)
    model.save_pretrained(folder)
    tok.save(str(folder / "tokenizer.json"))
    (folder / "tokenizer_config.json").write_text(json.dumps(tokenizer_config(tok)))
    fields = {"size": {"height": IMAGE_SIZE, "width": IMAGE_SIZE}, **preprocessor_fields}
    Gemma3ImageProcessorPil(**fields).save_pretrained(folder)
    processor = {"image_seq_length": MM_TOKENS, "processor_class": "Gemma3Processor"}
    (folder / "processor_config.json").write_text(json.dumps(processor))
    return folder


def make_folder(folder, seed: int = 0, **preprocessor_fields):
    tok = train_tokenizer()
    return write_folder(folder_model(tok, seed), tok, folder, **preprocessor_fields)
