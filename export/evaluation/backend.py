"""The job interface every evaluation backend implements (today: the local process pool).

A backend takes jobs (dataset, split, limit, removed set) and yields their predictions;
scoring and the cache stay with the caller (ScoreSource), so any backend that runs the same
model yields the same scores and cache entries.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol

Job = tuple[str, str, int | None, tuple[int, ...]]  # (dataset, split, limit, removed blocks)


class EvalBackend(Protocol):
    model_hash: str  # of the model every worker loaded: the cache is keyed by it
    forward_passes: int  # summed over workers, like Evaluator.forward_passes

    def run(self, jobs: Sequence[Job]) -> Iterator[tuple[Job, list[str]]]:
        """Yields (job, predictions) in completion order."""
        ...

    def close(self) -> None: ...

    def __enter__(self) -> EvalBackend: ...

    def __exit__(self, *exc_info: object) -> None: ...
