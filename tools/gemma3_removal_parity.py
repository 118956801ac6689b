"""Gemma3 removal parity on the tiny random model (tests/gemma3_folders.py), printed per
removal set: pruned logits vs a fresh smaller model holding the kept weights, and the
adapter's embedding merge vs the model's own, on left-padded image prompts of 19 tokens
(sliding window 4). Run from the repository root:
`.venv/bin/python tools/gemma3_removal_parity.py`.
"""

import sys

import torch


def main() -> None:
    sys.path[:0] = ["tests", "tests/export/models"]
    from test_gemma3_adapter import ADAPTER, LAYER_TYPES, _inputs, build_model, fresh_with_kept

    model, hf = build_model(), _inputs()
    print("prompt tokens", hf["input_ids"].shape[1], "sliding window 4")
    images = [p.numpy() for p in hf["pixel_values"]]
    with torch.no_grad():
        for removed in [(1,), (2,), (0, 5), (2, 3, 4)]:
            kept = [b for b in range(len(LAYER_TYPES)) if b not in removed]
            expected = fresh_with_kept(model, kept)(**hf).logits
            with ADAPTER.removed(model, removed):
                got = model(**hf).logits
                embeds = ADAPTER.input_embeddings(model, hf["input_ids"], images)
                rest = {k: hf[k] for k in ("attention_mask", "token_type_ids")}
                via_embeds = model(inputs_embeds=embeds, **rest).logits
            print(
                f"removed {removed}: max|pruned - fresh| {(got - expected).abs().max().item()}, "
                f"max|adapter embeds - model| {(via_embeds - got).abs().max().item()}"
            )
        wrong = fresh_with_kept(model, [0, 1, 2])
        wrong.config.text_config.layer_types = [LAYER_TYPES[b] for b in (1, 3, 4)]
        right = fresh_with_kept(model, [0, 1, 2])
        delta = (wrong(**hf).logits - right(**hf).logits).abs().max().item()
        print(f"blocks 0,1,2 under the wrong layer_types: max|d| {delta:.4f}")


if __name__ == "__main__":
    main()
