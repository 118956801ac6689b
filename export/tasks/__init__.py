"""Tasks: the datasets a model is scored on, and the metric of each.

Entry points: `base` (task types, splits, examples, the dataset interface), `catalog`
(`get_dataset`, `all_datasets`: every dataset one can name), `metrics` (the standard
metric of each benchmark), `synthetic/` (the built-in suite: 8 generated datasets over
the six task types) and `jsonl` (a user's own JSONL file).
"""
