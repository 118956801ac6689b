"""Latency profiling of a manifest's variants (`vlmprune profile`): torch-free.

Entry points: `profiler.Profiler` (timed requests per variant), `report` (summaries and
speedups against the ideal N/(N-k)), `machine` (what it runs on, peak memory) and
`operators` (onnxruntime's per-operator profile, apart from the timings).
"""
