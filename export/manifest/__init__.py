"""The manifest: which variants an export holds, and everything the runtime needs to pick one.

Entry points: `variants` (plan the variants from the scores files: task-specific, generic,
full), `build` (assemble, validate and write the manifest), `schema` (its JSON Schema, as
data) and `detector` (fit the runtime's task detector on a suite's prompts plus generated
paraphrases; `detector_calibrate` chooses its threshold).
"""
