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


@pytest.fixture(scope="session")
def qwen_folder(tmp_path_factory):
    """qwen_folder(kind, layout="native") -> a tiny Qwen folder as downloaded (built once each).

    kind: "qwen2_5_vl" or "qwen2_vl"; layout: "native", "hub" or "sharded" (tests/qwen_folders.py).
    Tests must not modify it (copy it first).
    """
    from qwen_folders import make_folder

    built = {}

    def get(kind: str, layout: str = "native"):
        if (kind, layout) not in built:
            root = tmp_path_factory.mktemp(f"{kind}_{layout}")
            built[kind, layout] = make_folder(kind, root / kind, layout)
        return built[kind, layout]

    return get


@pytest.fixture(scope="session")
def qwen_vlm(qwen_folder):
    """qwen_vlm(kind) -> the native tiny folder loaded (shared: restore what you change)."""
    from vlmprune.export.models.loading import load_vlm

    loaded = {}

    def get(kind: str):
        if kind not in loaded:
            loaded[kind] = load_vlm(str(qwen_folder(kind)))
        return loaded[kind]

    return get


@pytest.fixture(scope="session")
def smolvlm_folder(tmp_path_factory):
    """smolvlm_folder(kind) -> a tiny SmolVLM / Idefics3 folder as downloaded (built once
    each; tests/smolvlm_folders.py). Tests must not modify it (copy it first)."""
    from smolvlm_folders import make_folder

    built = {}

    def get(kind: str):
        if kind not in built:
            built[kind] = make_folder(kind, tmp_path_factory.mktemp(kind) / kind)
        return built[kind]

    return get


@pytest.fixture(scope="session")
def smolvlm_vlm(smolvlm_folder):
    """smolvlm_vlm(kind) -> the tiny folder loaded (shared: restore what you change)."""
    from vlmprune.export.models.loading import load_vlm

    loaded = {}

    def get(kind: str):
        if kind not in loaded:
            loaded[kind] = load_vlm(str(smolvlm_folder(kind)))
        return loaded[kind]

    return get


@pytest.fixture(scope="session")
def gemma3_folder(tmp_path_factory):
    """A tiny Gemma3 folder as downloaded (built once; tests/gemma3_folders.py). Tests must
    not modify it (copy it first)."""
    from gemma3_folders import make_folder

    return make_folder(tmp_path_factory.mktemp("gemma3") / "gemma3")


@pytest.fixture(scope="session")
def gemma3_vlm(gemma3_folder):
    """The tiny Gemma3 folder loaded (shared: restore what you change)."""
    from vlmprune.export.models.loading import load_vlm

    return load_vlm(str(gemma3_folder))
