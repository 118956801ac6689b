"""ONNX export: graphs (`graphs`), one shared weights file (`weights`), parity with PyTorch
(`parity`), the export folder (`bundle`, `pipeline`) and manifest validation (`check`).

Imports torch, onnx and onnxruntime: builder only. The runtime reads what this writes.
"""
