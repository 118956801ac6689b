"""`vlmprune.runtime.generation`: padding, merging image features, torch-free imports."""

import subprocess
import sys

import numpy as np
import pytest
import torch

from vlmprune.export.evaluation.generation import left_pad as torch_left_pad
from vlmprune.runtime.arch.llava import merge_image_features
from vlmprune.runtime.generation import left_pad


def test_left_pad_matches_the_builders_torch_version():
    rows = [[5, 6, 7], [8], []]
    ids, mask = left_pad(rows, pad_id=0)
    ref_ids, ref_mask = torch_left_pad(rows, pad_id=0)
    assert ids.dtype == mask.dtype == np.int64
    np.testing.assert_array_equal(ids, ref_ids.numpy())
    np.testing.assert_array_equal(mask, ref_mask.numpy())


def test_merge_puts_each_rows_features_at_its_image_tokens_like_masked_scatter():
    rng = np.random.default_rng(0)
    ids = np.array([[0, 4, 4, 9], [4, 4, 7, 8]])
    embeds = rng.standard_normal((2, 4, 3)).astype(np.float32)
    features = rng.standard_normal((2, 2, 3)).astype(np.float32)
    merged = merge_image_features(embeds, ids, features, image_token_id=4)
    mask = torch.from_numpy(ids == 4).unsqueeze(-1).expand(2, 4, 3)
    ref = torch.from_numpy(embeds).masked_scatter(mask, torch.from_numpy(features).reshape(-1, 3))
    np.testing.assert_array_equal(merged, ref.numpy())
    assert not np.shares_memory(merged, embeds)


def test_merge_refuses_a_row_with_the_wrong_number_of_image_tokens():
    ids = np.array([[4, 4, 1], [4, 1, 1]])
    with pytest.raises(ValueError, match="row 1 holds 1 image tokens"):
        merge_image_features(
            np.zeros((2, 3, 2), np.float32), ids, np.zeros((2, 2, 2), np.float32), 4
        )


def test_generation_imports_without_torch_or_transformers():
    code = (
        "import sys; sys.modules['torch'] = None; sys.modules['transformers'] = None\n"
        "import vlmprune.runtime.generation as g; print(g.greedy_decode.__name__)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "greedy_decode"
