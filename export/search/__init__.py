"""Search: which blocks to remove, per dataset and for the generic objective.

Entry points: `scoring.ScoreSource` (per-example scores of a removal set, through the
evaluation cache), `leave_one_out` (the drop when exactly one block goes), `beam` (the
objectives and the beam search over removal sets), `run` (the `scores` and `search`
pipelines), `files` (the `scores/<model>/*.json` files), `compare` (task-specific vs
generic report) and `plots` (its PNGs).
"""
