"""Folders that onnxruntime-genai opens (`onnxruntime_genai.Model(folder)`), one per variant.

Each `genai/<variant>/` holds what genai's model type reads: `genai_config.json`, the
decoder as `model.onnx`, the architecture's vision and embedding graphs (genai's own I/O:
`pixel_values` + `image_grid_thw`; `input_ids` + `image_features`), `processor_config.json`
(onnxruntime-extensions' image pipeline) and the tokenizer files.

Sharing bytes: onnxruntime resolves external data only inside a graph's own folder
("External data path escapes model directory", symlinks included) and genai refuses `..`
in file names, so a genai folder cannot point at the export's files. It holds *hard links*
instead: `model.onnx` is the variant's decoder file itself, `weights.bin` the export's one
shared weights file, the vision/embedding graphs point into it too (their tensors are
deduplicated with the vision encoder's). On one filesystem a folder costs its two JSON
files; where hard links are refused (another filesystem), the files are copied and the
summary says so. Copying an export with a tool that does not keep hard links (zip, plain
`cp -r`) copies the weights once per folder.

Before a folder is recorded in the manifest (`variants[].genai_dir`), genai generates
greedily on a few test examples and must give the tokens vlmprune's runtime gives.

Layout: genai 0.18 feeds a decoder `attention_mask`, never `seqlens_k` (its config has no
such decoder input), so the folders hold traced decoders. `--genai` picks the traced layout
when none is given; by default the gqa layout wins and the folders are skipped, saying why.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ...runtime.decoders import DecoderLayout
from ...runtime.generation import greedy_decode, until_stop
from ..models.adapter import GenaiSpec, GenaiUnsupportedError, GraphSpec
from ..models.loading import LoadedVlm
from .graphs import choose_layout, decoder_dims
from .parity import session_from_file
from .settings import (
    EMBED_FILE,
    TOKENIZER_FILE,
    VISION_FILE,
    ExportError,
    ExportSettings,
    GenaiMode,
    Log,
)
from .weights import WEIGHTS_FILE

GENAI_DIR = "genai"
CHECK_EXAMPLES = 4  # test examples each folder must answer as the runtime does
CHECK_NEW_TOKENS = 8
_TOKENIZER_CONFIG = "tokenizer_config.json"
_STAGED_PREFIX = ".genai-"  # the graphs' first copy in the staging folder, linked from there
_NO_SEQLENS = (
    "onnxruntime-genai 0.18 does not feed the gqa decoder's seqlens_k (its decoder inputs "
    "have no such key)"
)


@dataclass
class GenaiResult:
    dirs: dict[str, str] = field(default_factory=dict)  # variant -> folder (staging-relative)
    parity: dict[str, dict] = field(default_factory=dict)  # variant -> genai_parity
    hard_linked: bool = True  # False: some file had to be copied
    skipped: str | None = None  # why no folder was written


@dataclass(frozen=True)
class GenaiPlan:
    spec: GenaiSpec | None  # None: no folders are written...
    skipped: str | None = None  # ...and why, when it is worth saying


def plan(vlm: LoadedVlm, mode: GenaiMode) -> GenaiPlan:
    """Whether to write the folders, and their parts; ExportError for `--genai` without
    onnxruntime-genai installed."""
    if mode is GenaiMode.OFF:
        return GenaiPlan(None)
    try:
        import onnxruntime_genai  # noqa: F401
    except ImportError:
        if mode is GenaiMode.ON:
            raise ExportError(
                "--genai: onnxruntime-genai is not installed (pip install 'vlmprune[genai]')"
            ) from None
        return GenaiPlan(None)
    try:
        return GenaiPlan(vlm.adapter.genai(vlm.model, vlm.arch))
    except GenaiUnsupportedError as exc:
        return GenaiPlan(None, f"no onnxruntime-genai folders: {exc}")


def fit_layout(
    vlm: LoadedVlm, plan: GenaiPlan, settings: ExportSettings
) -> tuple[ExportSettings, GenaiPlan]:
    """The settings and plan with the folders' decoder layout settled (module docstring):
    `--genai` alone exports traced decoders; a gqa export skips the folders."""
    if plan.spec is None:
        return settings, plan
    if settings.layout is None and settings.genai is GenaiMode.ON:
        return replace(settings, layout=DecoderLayout.TRACED), plan
    layout = settings.layout or choose_layout(vlm)  # an impossible gqa is build's error
    if layout is DecoderLayout.TRACED:
        return settings, plan
    if settings.genai is GenaiMode.ON:
        raise ExportError(f"--genai with --decoder-layout gqa: {_NO_SEQLENS}; give one of the two")
    return settings, GenaiPlan(
        None, f"no onnxruntime-genai folders: {_NO_SEQLENS}; --genai exports traced decoders"
    )


def staged_graphs(spec: GenaiSpec) -> list[tuple[str, GraphSpec]]:
    """(staging file name, graph) for the shared weights writer."""
    return [(f"{_STAGED_PREFIX}{name}", graph) for name, graph in spec.graphs.items()]


def write_folders(
    vlm: LoadedVlm,
    spec: GenaiSpec,
    written: list,  # VariantOutcome with a decoder file
    staging: Path,
    datasets: tuple,  # names or dataset objects
    log: Log,
) -> GenaiResult:
    """One folder per written variant, each checked with onnxruntime-genai."""
    result = GenaiResult()
    examples = _check_examples(datasets)
    tokenizer_config = _tokenizer_config(vlm, staging)
    for outcome in written:
        folder = staging / GENAI_DIR / outcome.spec.name
        folder.mkdir(parents=True)
        files = {
            "model.onnx": staging / outcome.file,
            WEIGHTS_FILE: staging / WEIGHTS_FILE,
            "tokenizer.json": staging / TOKENIZER_FILE,
            **{name: staging / f"{_STAGED_PREFIX}{name}" for name in spec.graphs},
        }
        if tokenizer_config is not None:
            files[_TOKENIZER_CONFIG] = tokenizer_config
        for name, source in files.items():
            result.hard_linked &= _link(source, folder / name)
        layers = len(outcome.spec.kept_blocks(vlm.num_blocks))
        (folder / "genai_config.json").write_text(
            json.dumps(genai_config(vlm, spec, layers), indent=2) + "\n"
        )
        (folder / "processor_config.json").write_text(
            json.dumps(dict(spec.processor_config), indent=2) + "\n"
        )
        identical = _check_folder(vlm, folder, staging, outcome.file, examples)
        if identical < len(examples):
            log(
                f"variant '{outcome.spec.name}': onnxruntime-genai gave other tokens than the "
                f"runtime on {len(examples) - identical}/{len(examples)} examples; its genai "
                "folder is not written"
            )
            shutil.rmtree(folder)
            continue
        result.dirs[outcome.spec.name] = f"{GENAI_DIR}/{outcome.spec.name}"
        result.parity[outcome.spec.name] = _parity_entry(identical, len(examples))
    for staged in staging.glob(f"{_STAGED_PREFIX}*"):
        staged.unlink()  # the folders hold their own links to the data
    for extra in staging.glob(f".{_TOKENIZER_CONFIG}"):
        extra.unlink()
    return result


def genai_config(vlm: LoadedVlm, spec: GenaiSpec, layers: int) -> dict:
    """genai_config.json for a decoder with `layers` kept blocks (numbered 0..layers-1)."""
    dims, text = decoder_dims(vlm), vlm.adapter.text_config(vlm.model)
    decoder = {
        "session_options": {"log_id": "onnxruntime-genai", "provider_options": []},
        "filename": "model.onnx",
        "head_size": dims.head_dim,
        "hidden_size": dims.hidden_size,
        "num_attention_heads": text.num_attention_heads,
        "num_hidden_layers": layers,
        "num_key_value_heads": dims.num_kv_heads,
        "inputs": {
            "inputs_embeds": "inputs_embeds",
            "attention_mask": "attention_mask",
            "position_ids": "position_ids",
            "past_key_names": "past_key_values.%d.key",
            "past_value_names": "past_key_values.%d.value",
        },
        "outputs": {
            "logits": "logits",
            "present_key_names": "present.%d.key",
            "present_value_names": "present.%d.value",
        },
    }
    context = int(text.max_position_embeddings)
    model = {
        "type": spec.model_type,
        "bos_token_id": vlm.pad_id if text.bos_token_id is None else int(text.bos_token_id),
        "eos_token_id": list(vlm.eos_ids),
        "pad_token_id": vlm.pad_id,
        "context_length": context,
        "vocab_size": dims.vocab_size,
        "decoder": decoder,
        **spec.model_config,
    }
    search = {
        "do_sample": False,
        "num_beams": 1,
        "top_k": 1,
        "top_p": 1.0,
        "temperature": 1.0,
        "repetition_penalty": 1.0,  # the releases' 1.05 is generate's; vlmprune is greedy
        "max_length": context,
        "min_length": 0,
        # The exported decoder concatenates past and new keys (present grows each step).
        "past_present_share_buffer": False,
    }
    return {"model": model, "search": search}


def folder_cost(staging: Path) -> dict:
    """Bytes the genai folders add: apparent (as `du --apparent-size` counts) and on disk
    (hard links to files the export already holds cost nothing)."""
    root = staging / GENAI_DIR
    if not root.is_dir():
        return {"folders": 0, "apparent_bytes": 0, "extra_bytes": 0}
    known = {(p.stat().st_dev, p.stat().st_ino) for p in staging.iterdir() if p.is_file()}
    apparent = extra = 0
    for path in root.rglob("*"):
        if path.is_file():
            st = path.stat()
            apparent += st.st_size
            if (st.st_dev, st.st_ino) not in known:
                known.add((st.st_dev, st.st_ino))
                extra += st.st_size
    folders = sum(1 for p in root.iterdir() if p.is_dir())
    return {"folders": folders, "apparent_bytes": apparent, "extra_bytes": extra}


def _link(source: Path, target: Path) -> bool:
    try:
        os.link(source, target)
        return True
    except OSError:  # another filesystem, or one without hard links: a copy still works
        shutil.copyfile(source, target)
        return False


def _tokenizer_config(vlm: LoadedVlm, staging: Path) -> Path | None:
    """The folder's tokenizer_config.json (onnxruntime-extensions reads its class and tokens)."""
    source = vlm.path / _TOKENIZER_CONFIG if vlm.path is not None else None
    if source is None or not source.is_file():
        return None
    staged = staging / f".{_TOKENIZER_CONFIG}"
    shutil.copyfile(source, staged)
    return staged


def _check_examples(datasets: tuple) -> list:
    """`datasets` holds names or dataset objects (a suite file's datasets are objects)."""
    from ..tasks.base import Split
    from ..tasks.catalog import as_dataset

    per = -(-CHECK_EXAMPLES // max(len(datasets), 1))
    pool = [e for d in datasets for e in as_dataset(d).examples(Split.TEST, per)]
    return pool[:CHECK_EXAMPLES]


def _check_folder(
    vlm: LoadedVlm, folder: Path, staging: Path, decoder_file: str, examples: list
) -> int:
    """How many examples onnxruntime-genai answers with exactly the runtime's tokens."""
    import onnxruntime_genai as og

    arch = vlm.arch
    vision, embed = (
        session_from_file(staging / VISION_FILE),
        session_from_file(staging / EMBED_FILE),
    )
    decoder = session_from_file(staging / decoder_file)
    model = og.Model(str(folder))
    processor = model.create_multimodal_processor()
    identical = 0
    with tempfile.TemporaryDirectory(prefix="vlmprune-genai-") as scratch:
        for i, example in enumerate(examples):
            image = arch.preprocess(example.image)
            ids = np.asarray([arch.prompt_ids(vlm.tokenizer, example.prompt, image)], np.int64)
            mask = np.ones_like(ids)
            embeds = arch.inputs_embeds(embed, ids, arch.image_features(vision, [image]))
            positions = arch.position_ids(ids, mask, [image])
            mask = arch.decoder_mask(ids, mask)
            ours = greedy_decode(
                decoder, embed, embeds, mask, positions, vlm.eos_ids, CHECK_NEW_TOKENS
            ).tokens[0]
            path = Path(scratch) / f"{i}.png"
            example.image.convert("RGB").save(path)
            theirs = generate(og, model, processor, arch.prompt_text(example.prompt, image), path)
            identical += until_stop(theirs, vlm.eos_ids) == ours
    return identical


def generate(og: object, model: object, processor: object, prompt: str, image: Path) -> list[int]:
    """onnxruntime-genai's greedy tokens for one formatted prompt and image file."""
    inputs = processor(prompt, images=og.Images.open(str(image)))
    length = inputs["input_ids"].as_numpy().shape[-1]
    params = og.GeneratorParams(model)
    params.set_search_options(max_length=length + CHECK_NEW_TOKENS)
    generator = og.Generator(model, params)
    generator.set_inputs(inputs)
    while not generator.is_done():
        generator.generate_next_token()
    return [int(t) for t in generator.get_sequence(0)[length:]]


def _parity_entry(identical: int, n: int) -> dict:
    import onnxruntime_genai as og

    return {"greedy_identical": identical, "n": n, "onnxruntime_genai": og.__version__}
