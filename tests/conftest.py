import pytest


@pytest.fixture(scope="session")
def tiny_vlm():
    from vlmprune.export.models.llava_build import tiny_vlm

    return tiny_vlm(seed=0)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, tiny_vlm):
    """The tiny random model saved as a model folder (HF files + tokenizer + preprocess spec)."""
    from vlmprune.export.models.llava_build import save_model_dir

    folder = tmp_path_factory.mktemp("tiny_model")
    return save_model_dir(tiny_vlm.model, tiny_vlm.tokenizer, tiny_vlm.spec, folder)
