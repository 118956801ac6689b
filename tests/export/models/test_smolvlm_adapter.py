"""The SmolVLM / Idefics3 adapter on a folder as downloaded: the decoder inputs it builds
(image features merged at the `<image>` tokens, tiles in token order) give the logits of the
model's own forward on the processor's batch; the manifest's preprocessing section round-trips
through the runtime architecture; a folder that does not fit is one line."""

import json
import shutil

import numpy as np
import pytest
import torch
from PIL import Image
from smolvlm_folders import CHAT_TEMPLATES, IMAGE_SEQ_LEN, KINDS

from vlmprune.export.errors import ModelLoadError
from vlmprune.export.evaluation.generation import left_pad
from vlmprune.export.models.chat_template import user_turn
from vlmprune.export.models.loading import load_vlm
from vlmprune.runtime.arch import architecture_class
from vlmprune.runtime.arch.base import PreprocessingError


@pytest.mark.parametrize("kind", KINDS)
def test_input_embeddings_give_the_models_own_forward(smolvlm_vlm, smolvlm_folder, kind):
    from transformers import AutoImageProcessor, AutoTokenizer, Idefics3Processor

    vlm, folder = smolvlm_vlm(kind), smolvlm_folder(kind)
    rng = np.random.default_rng(0)
    images = [  # 10, 7 and 4 tiles: rows need different numbers of image tokens
        Image.fromarray(rng.integers(0, 256, s, dtype=np.uint8))
        for s in [(96, 96, 3), (20, 30, 3), (20, 70, 3)]
    ]
    prompts = ["What color is the circle?", "Read the code.", "How many?"]
    tokenizer = AutoTokenizer.from_pretrained(folder, padding_side="left")
    processor = Idefics3Processor(
        image_processor=AutoImageProcessor.from_pretrained(folder),
        tokenizer=tokenizer,
        image_seq_len=IMAGE_SEQ_LEN,
        chat_template=CHAT_TEMPLATES[kind],
    )
    texts = [processor.apply_chat_template(user_turn(p), add_generation_prompt=True) for p in prompts]  # fmt: skip
    hf = processor(text=texts, images=[[im] for im in images], padding=True, return_tensors="pt")
    tiles = [vlm.arch.preprocess(im) for im in images]
    rows = [vlm.arch.prompt_ids(vlm.tokenizer, p, t) for p, t in zip(prompts, tiles, strict=True)]
    ids, mask = left_pad(rows, vlm.pad_id)
    assert torch.equal(ids[mask.bool()], hf["input_ids"][hf["attention_mask"].bool()])
    with torch.no_grad():
        theirs = vlm.model(**hf).logits
        embeds = vlm.adapter.input_embeddings(vlm.model, ids, tiles)
        ours = vlm.model(inputs_embeds=embeds, attention_mask=mask).logits
    real = mask.bool()
    torch.testing.assert_close(ours[real], theirs[hf["attention_mask"].bool()], rtol=0, atol=1e-5)
    with pytest.raises(ValueError, match=r"image tokens for \d+ image features"):
        vlm.adapter.input_embeddings(vlm.model, ids, tiles[:2])  # one image's features missing


@pytest.mark.parametrize("kind", KINDS)
def test_preprocessing_round_trips_through_the_runtime_architecture(smolvlm_vlm, kind):
    arch = smolvlm_vlm(kind).arch
    cls = architecture_class(kind)
    assert type(arch) is cls
    again = cls.from_preprocessing(json.loads(json.dumps(arch.preprocessing())))
    assert again.spec == arch.spec
    broken = {**arch.preprocessing(), "tiles": {**arch.preprocessing()["tiles"], "image_std": [0.5, 0, 0.5]}}  # fmt: skip
    with pytest.raises(PreprocessingError, match="preprocessing.tiles.image_mean/image_std"):
        cls.from_preprocessing(broken)
    with pytest.raises(PreprocessingError, match="preprocessing.image_seq_len is missing"):
        cls.from_preprocessing({k: v for k, v in arch.preprocessing().items() if k != "image_seq_len"})  # fmt: skip


def test_the_prompt_is_the_chat_template_with_the_tiles_expanded(smolvlm_vlm):
    vlm = smolvlm_vlm("idefics3")
    image = vlm.arch.preprocess(Image.new("RGB", (96, 20), (200, 10, 10)))  # 1 x 3 tiles
    assert vlm.arch.prompt_text("Hi?", image) == (
        "<|begin_of_text|>User:<image>Hi?<end_of_utterance>\nAssistant:"
    )
    ids = vlm.arch.prompt_ids(vlm.tokenizer, "Hi?", image)
    run = "<image>" * IMAGE_SEQ_LEN
    tiles = "".join(f"<fake_token_around_image><row_1_col_{c}>{run}" for c in (1, 2, 3))
    expected = (
        f"<|begin_of_text|>User:{tiles}\n\n<fake_token_around_image><global-img>{run}"
        "<fake_token_around_image>Hi?<end_of_utterance>\nAssistant:"
    )
    assert vlm.tokenizer.decode(ids, skip_special_tokens=False) == expected
    assert vlm.eos_ids == tuple(
        vlm.tokenizer.token_to_id(t) for t in ("<end_of_utterance>", "<|endoftext|>")
    )


def test_an_image_token_id_that_is_not_image_is_one_line(smolvlm_folder, tmp_path):
    folder = shutil.copytree(smolvlm_folder("smolvlm"), tmp_path / "m")
    config = json.loads((folder / "config.json").read_text())
    config["image_token_id"] = 3
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelLoadError, match=r"config.json: field 'image_token_id' \(3\) is '.*' in tokenizer.json, not the processor's '<image>'"):  # fmt: skip
        load_vlm(str(folder))
