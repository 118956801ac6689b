"""`vlmprune manifest validate`: everything a manifest promises, checked; one line per problem.

Schema and cross-references; every file inside the manifest's folder, present, with its
size and sha256; every graph's IR version and opset loadable by onnxruntime >= 1.20, its
input/output names and static dimensions as the manifest implies (the architecture's vision
inputs, hidden size, vocabulary, kept blocks, kv heads, head_dim, M-RoPE position rows);
every external-data reference inside the
shared weights file (large tensors 64 KiB-aligned); optionally every graph loaded by
onnxruntime with the shared file.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

import onnx

from ...runtime.arch import architecture_class
from ...runtime.arch.base import Architecture, PreprocessingError
from ...runtime.decoders import DecoderLayout
from ..manifest.build import SCHEMA_VERSION, schema_problems, semantic_problems, sha256_file
from .io_names import NEXT_TOKENS, decoder_input_names, decoder_output_names, fused_input_names
from .weights import ALIGN_MIN_BYTES, ALIGNMENT, external_refs

MAX_IR_VERSION = 10  # onnxruntime 1.20
MAX_OPSET = 21  # onnxruntime 1.20, default domain
OPTIONAL_IO = frozenset({NEXT_TOKENS})


def validate_manifest(path: str | Path, load_sessions: bool = True) -> list[str]:
    """Problems found in the manifest at `path` and the files it names ([] = valid)."""
    path = Path(path)
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        return [f"{path}: no such file"]
    except (OSError, ValueError) as exc:
        return [f"{path}: not readable JSON ({exc})"]
    version = raw.get("schema_version") if isinstance(raw, dict) else None
    if isinstance(version, int) and version > SCHEMA_VERSION:
        return [f"schema_version {version} is newer than this vlmprune knows ({SCHEMA_VERSION})"]
    problems = schema_problems(raw)
    if problems:  # the structure is not what the checks below read
        return problems
    problems = semantic_problems(raw)
    folder = path.parent.resolve()
    present = {}
    for where, entry in _file_entries(raw):
        problem, file = _check_file(folder, where, entry)
        if problem:
            problems.append(problem)
        else:
            present[where] = file
    problems += _check_graphs(raw, present, load_sessions)
    problems += _check_genai_dirs(raw, folder, present)
    return problems


def _file_entries(manifest: dict) -> Iterator[tuple[str, dict]]:
    for key, entry in manifest["shared"].items():
        yield f"shared.{key}", entry
    pre = manifest["preprocessing"]
    yield (
        "preprocessing.tokenizer_file",
        {
            "path": pre["tokenizer_file"],
            "sha256": pre["tokenizer_sha256"],
        },
    )
    for i, variant in enumerate(manifest["variants"]):
        for j, entry in enumerate(variant["files"]):
            yield f"variants[{i}].files[{j}]", entry


def _check_genai_dirs(manifest: dict, folder: Path, present: dict[str, Path]) -> list[str]:
    """Each genai_dir: inside the folder, with genai_config.json and the files it names; its
    model.onnx and weights.bin are the variant's decoder and the shared weights (same bytes)."""
    problems = []
    for i, variant in enumerate(manifest["variants"]):
        rel = variant.get("genai_dir")
        if rel is None:
            continue
        where = f"variants[{i}].genai_dir"
        target = (folder / rel).resolve()
        if not target.is_relative_to(folder) or not (target / "genai_config.json").is_file():
            problems.append(
                f"{where}: '{rel}' is not a folder with genai_config.json inside {folder}"
            )
            continue
        try:
            config = json.loads((target / "genai_config.json").read_text())["model"]
            named = [config["decoder"]["filename"]]
            named += [config[k]["filename"] for k in ("vision", "embedding") if k in config]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            problems.append(f"{where}: genai_config.json is not readable ({exc})")
            continue
        for name in named:
            if not (target / name).is_file():
                problems.append(f"{where}: genai_config.json names '{name}', which is missing")
        pairs = [
            (named[0], present.get(f"variants[{i}].files[0]")),
            ("weights.bin", present.get("shared.weights")),
        ]
        for name, ours in pairs:
            if (
                ours is not None
                and (target / name).is_file()
                and not _same_bytes(target / name, ours)
            ):
                problems.append(f"{where}: '{name}' differs from the export's {ours.name}")
    return problems


def _same_bytes(a: Path, b: Path) -> bool:
    if a.samefile(b):  # a hard link: the same file
        return True
    return a.stat().st_size == b.stat().st_size and sha256_file(a) == sha256_file(b)


def _check_file(folder: Path, where: str, entry: dict) -> tuple[str | None, Path | None]:
    rel = entry["path"]
    if ".." in PurePosixPath(rel).parts or PurePosixPath(rel).is_absolute():
        return f"{where}: path '{rel}' leaves the manifest's folder", None
    file = (folder / rel).resolve()
    if not file.is_relative_to(folder):
        return f"{where}: path '{rel}' resolves outside the manifest's folder", None
    if not file.is_file():
        return f"{where}: file '{rel}' is missing", None
    size = file.stat().st_size
    if "size" in entry and size != entry["size"]:
        return f"{where}: '{rel}' is {size} bytes, the manifest says {entry['size']}", None
    if sha256_file(file) != entry["sha256"]:
        return (
            f"{where}: '{rel}' has a different sha256 than the manifest (modified or corrupt)",
            None,
        )
    return None, file


def _architecture(manifest: dict) -> Architecture | str:
    """The runtime's architecture for the manifest, or the problem that prevents it."""
    name = manifest["model"]["architecture"]
    cls = architecture_class(name)
    if cls is None:
        return f"model.architecture: '{name}' is not an architecture the runtime runs"
    try:
        return cls.from_preprocessing(manifest["preprocessing"])
    except PreprocessingError as exc:
        return f"{exc.field}: {exc.problem}"


def _check_graphs(manifest: dict, present: dict[str, Path], load_sessions: bool) -> list[str]:
    model = manifest["model"]
    hidden = model["hidden_size"]
    arch = _architecture(manifest)
    if isinstance(arch, str):
        return [arch]
    weights = present.get("shared.weights")
    expected = {
        "shared.vision_encoder": arch.vision_io(hidden),
        "shared.embed_tokens": (
            {"input_ids": [None, None]},
            {"inputs_embeds": [None, None, hidden]},
        ),
    }
    for i, variant in enumerate(manifest["variants"]):
        for j, entry in enumerate(variant["files"]):
            if entry["path"].endswith(".onnx"):
                expected[f"variants[{i}].files[{j}]"] = _decoder_io(
                    model, len(variant["kept_blocks"]), arch.position_rows
                )
    problems = []
    for where, (inputs, outputs) in expected.items():
        if where in present:
            problems += _check_graph(where, present[where], inputs, outputs, weights, load_sessions)
    return problems


def _decoder_io(model: dict, layers: int, position_rows: int | None) -> tuple[dict, dict]:
    hidden, heads, head_dim = model["hidden_size"], model["num_key_value_heads"], model["head_dim"]
    cache = [None, heads, None, head_dim]
    layout = DecoderLayout(model.get("decoder_layout", DecoderLayout.TRACED.value))
    positions = [position_rows, None, None] if position_rows else [None, None]
    if layout is DecoderLayout.GQA:
        inputs = {name: cache for name in fused_input_names(layers, bool(position_rows))}
        inputs.update(
            inputs_embeds=[None, None, hidden], seqlens_k=[None], total_sequence_length=[]
        )
        if position_rows:  # M-RoPE: GQA's rotary takes one row, so the graph takes them
            inputs["position_ids"] = positions
    else:
        inputs = {name: cache for name in decoder_input_names(layers)}
        inputs.update(
            inputs_embeds=[None, None, hidden], attention_mask=[None, None], position_ids=positions
        )
    outputs = {name: cache for name in decoder_output_names(layers)}
    outputs["logits"] = [None, None, model["vocab_size"]]
    if layout is DecoderLayout.GQA:
        outputs[NEXT_TOKENS] = [None, None]  # optional: graphs written before it lack it
    return inputs, outputs


def _check_graph(
    where: str,
    file: Path,
    inputs: dict[str, list],
    outputs: dict[str, list],
    weights: Path | None,
    load_sessions: bool,
) -> list[str]:
    label = f"{where} ({file.name})"
    try:
        graph = onnx.load(str(file), load_external_data=False)
    except Exception as exc:  # any parse failure is one problem line
        return [f"{label}: not a readable ONNX graph ({exc})"]
    problems = []
    opset = next((o.version for o in graph.opset_import if o.domain in ("", "ai.onnx")), None)
    if graph.ir_version > MAX_IR_VERSION:
        problems.append(
            f"{label}: IR version {graph.ir_version} > {MAX_IR_VERSION} (onnxruntime 1.20)"
        )
    if opset is None or opset > MAX_OPSET:
        problems.append(
            f"{label}: opset {opset} is not loadable by onnxruntime 1.20 (<= {MAX_OPSET})"
        )
    problems += _check_io(label, "input", graph.graph.input, inputs)
    problems += _check_io(label, "output", graph.graph.output, outputs)
    problems += _check_refs(label, file, graph, weights)
    if load_sessions and not problems and weights is not None:
        problems += _check_loads(label, file)
    return problems


def _check_io(label: str, kind: str, values: object, expected: dict[str, list]) -> list[str]:
    found = {v.name: v for v in values}
    problems = []
    for name in found.keys() - expected.keys():
        problems.append(f"{label}: unexpected {kind} '{name}'")
    for name, dims in expected.items():
        if name not in found:
            if name not in OPTIONAL_IO:
                problems.append(f"{label}: {kind} '{name}' is missing")
            continue
        shape = [
            d.dim_value if d.HasField("dim_value") else None
            for d in found[name].type.tensor_type.shape.dim
        ]
        wrong = len(shape) != len(dims) or any(
            e is not None and e != s for e, s in zip(dims, shape, strict=False)
        )
        if wrong:
            want = ["*" if d is None else d for d in dims]
            got = ["*" if d is None else d for d in shape]
            problems.append(
                f"{label}: {kind} '{name}' has shape {got}, the manifest implies {want}"
            )
    return problems


def _check_refs(label: str, file: Path, graph: onnx.ModelProto, weights: Path | None) -> list[str]:
    if weights is None:  # missing or corrupt: reported once, not once per tensor
        return []
    problems = []
    size = weights.stat().st_size
    for ref in external_refs(graph):
        target = (file.parent / ref.location).resolve()
        if target != weights:
            problems.append(
                f"{label}: initializer '{ref.name}' points into '{ref.location}', not the shared weights file"
            )
        elif ref.length < 0 or ref.offset + ref.length > size:
            problems.append(
                f"{label}: initializer '{ref.name}' reaches past the end of the weights file"
            )
        elif ref.length >= ALIGN_MIN_BYTES and ref.offset % ALIGNMENT:
            problems.append(
                f"{label}: initializer '{ref.name}' is not 64 KiB-aligned (offset {ref.offset})"
            )
    return problems


def _check_loads(label: str, file: Path) -> list[str]:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.add_session_config_entry("session.disable_prepacking", "1")
    try:
        ort.InferenceSession(str(file), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises several unrelated types
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return [f"{label}: onnxruntime cannot load it ({first})"]
    return []
