"""The runtime and `vlmprune run` work where torch and transformers cannot be imported.

A subprocess installs an import blocker (a sys.meta_path finder) before anything else, so
`import torch`, `import transformers` (and the builder-only onnx, onnxscript, jsonschema,
safetensors) raise ImportError there, as on a device that has only the runtime's wheels.
"""

import json
import subprocess
import sys

BLOCKED = ("torch", "transformers", "onnx", "onnxscript", "jsonschema", "safetensors")
BLOCKER = f"""
import sys
class _Blocker:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in {BLOCKED!r}:
            raise ImportError(f"{{name}} is blocked in this test")
        return None
sys.meta_path.insert(0, _Blocker())
"""


def run_blocked(code: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", BLOCKER + code, *args], capture_output=True, text=True, timeout=120
    )


def test_blocker_blocks():
    out = run_blocked("import torch")
    assert out.returncode != 0 and "torch is blocked" in out.stderr


RUNTIME_SCRIPT = """
import json
from PIL import Image
import vlmprune.runtime as rt
from vlmprune.runtime import Runtime

runtime = Runtime.from_manifest(sys.argv[1])
image = Image.new("RGB", (8, 8), (255, 0, 0))
out = {
    "selected": {str(h): runtime.select(task_hint=h).variant for h in (None, "vqa", "code_match")},
    "detected": runtime.select(prompt="Read the code in the box.", detect=True).variant,
    "generated": [
        [r.variant, r.reason.value, len(r.tokens)]
        for r in [runtime.generate(image, "What color is the circle?", task_hint=h) for h in (None, "vqa")]
    ],
    "blocked_loaded": sorted(m for m in sys.modules if m.partition(".")[0] in BLOCKED),
}
print(json.dumps(out))
"""


def test_runtime_imports_and_runs_without_torch(toy_manifest):
    code = f"BLOCKED = {BLOCKED!r}\n" + RUNTIME_SCRIPT
    out = run_blocked(code, str(toy_manifest))
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["selected"] == {"None": "generic", "vqa": "shapes_vqa", "code_match": "code_match"}
    assert data["detected"] == "code_match"
    assert [g[:2] for g in data["generated"]] == [
        ["generic", "default"],
        ["shapes_vqa", "task_type_hint"],
    ]
    assert all(g[2] > 0 for g in data["generated"])
    assert data["blocked_loaded"] == []


CLI_SCRIPT = """
from vlmprune.export.cli import main
sys.argv = ["vlmprune", *sys.argv[1:]]
main()
"""


def test_cli_run_without_torch(toy_manifest, tmp_path):
    image = tmp_path / "red.png"
    from PIL import Image

    Image.new("RGB", (8, 8), (255, 0, 0)).save(image)
    args = ["run", "--manifest", str(toy_manifest), str(image), "What color is the circle?"]
    out = run_blocked(CLI_SCRIPT, *args, "--task-hint", "vqa", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert (data["variant"], data["reason"]) == ("shapes_vqa", "task_type_hint")
    plain = run_blocked(CLI_SCRIPT, *args)
    assert plain.returncode == 0, plain.stderr
    assert plain.stdout.splitlines()[1] == "variant 'generic': no task hint given (the default)"
    bad = run_blocked(CLI_SCRIPT, "run", "--manifest", str(toy_manifest), "nope.png", "hi")
    assert bad.returncode != 0 and bad.stderr.strip().splitlines() == [
        "Error: image not found: nope.png"
    ]
