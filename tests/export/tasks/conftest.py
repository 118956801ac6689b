"""Fixtures of the task-suite tests that run a model."""

import pytest


@pytest.fixture(scope="module")
def one_torch_thread():
    # The demo's matrices are tiny: one intra-op thread is faster than several, and on a
    # busy shared machine extra threads spin against each other (20x slower measured).
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
