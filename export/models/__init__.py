"""Models: loading a VLM folder (or the embedded demo), its architecture's adapter, and
exact block removal.

Entry points: `loading.load_vlm` (a folder or 'demo' -> LoadedVlm), `architectures`
(the registered adapters, `adapter_for`), `adapter.ModelAdapter` (the interface: where
the decoder and its text config live), `removal` (what removing blocks changes), one
module per architecture (`llava.py`), and `llava_build` / `tokenizer` (how the demo and
the tests' tiny models are built).
"""
