"""Evaluation: the score of a model with some decoder blocks removed, on one dataset split.

Entry points: `evaluate.Evaluator` (decoder input embeddings computed once per dataset,
blocks removed temporarily, batched greedy decoding from `generation`), `cache.EvalCache`
(on-disk results keyed by model, dataset, split, size, removal set and metric),
`pool.EvalPool` (worker processes, several per GPU), `baselines` (trivial baselines) and
`stats` (seeded bootstrap intervals).
"""
