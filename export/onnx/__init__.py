"""ONNX export: every variant's graphs, checked against PyTorch, in one folder.

Entry point: `pipeline.run_export` (the stages in order). Stages: `build` (graphs from
`graphs`, parity from `parity`, one shared weights file from `weights`), `scores` (what
the written variants score), `folder` (the all-or-nothing staging folder). `settings`
holds what every stage shares; `check` validates a written manifest and its files.

Imports torch, onnx and onnxruntime: builder only. The runtime reads what this writes.
"""
