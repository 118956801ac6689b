"""The `scores` and `search` pipelines: leave-one-out, beam searches, test-split gaps, files."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..evaluation.stats import paired_bootstrap_ci
from ..tasks.suites import recorded_suite, require_examples
from .beam import (
    BestSet,
    GenericObjective,
    beam_search,
    dataset_loss,
    exhaustive_search,
    generic_loss,
)
from .files import GENERIC, new_scores_doc, write_scores
from .leave_one_out import leave_one_out, leave_one_out_pairs, split_half_stability
from .scoring import ScoreSource
from .screen import ScreenSettings, ScreenSource, Shortlist, screen_loss


@dataclass(frozen=True)
class SearchSettings:
    max_remove: int = 4
    beam_width: int = 4
    objective: GenericObjective = GenericObjective.MEAN
    exhaustive: bool = False
    limit: int | None = None  # examples per dataset (None: the whole split)
    screen: ScreenSettings | None = None  # None: every candidate evaluated exactly


def _doc(source: ScoreSource, objective: str, model: str, **extra: object) -> dict:
    ds = source.datasets.get(objective)
    n = source.n(objective) if ds else {d: source.n(d) for d in source.datasets}
    return new_scores_doc(
        objective,
        model,
        source.model_hash,
        source.num_blocks,
        source.split.value,
        n,
        task_type=ds.task_type.value if ds else None,
        metric=ds.metric.value if ds else None,
        **recorded_suite([ds] if ds else source.datasets.values()),  # seed; suite file, hash
        limit=source.limit,
        **extra,
    )


def run_scores(
    source: ScoreSource, model: str, root: Path, progress: bool = True
) -> dict[str, dict]:
    """Leave-one-out drops and split-half stability for every dataset; writes the files."""
    needs = "leave-one-out scores (split-half stability) need"
    require_examples(source.datasets.values(), source.split, 2, needs)
    # Every dataset's evaluations at once, so a worker pool has work across datasets.
    source.prefetch(
        p for name in source.datasets for p in leave_one_out_pairs(name, source.num_blocks)
    )
    docs = {}
    for name in _bar(list(source.datasets), "leave-one-out", progress):
        base, rows = leave_one_out(source, name)
        doc = _doc(source, name, model)
        doc["base_score"] = base
        doc["leave_one_out"] = [r.to_json() for r in rows]
        doc["stability"] = {"kendall_tau_split_halves": split_half_stability(source, name)}
        docs[name] = doc
        write_scores(root, model, doc)
    return docs


def run_search(
    calib: ScoreSource,
    test: ScoreSource,
    model: str,
    root: Path,
    settings: SearchSettings,
    progress: bool = True,
) -> dict[str, dict]:
    """Best sets per k for every dataset and the generic objective, measured on test too."""
    needs = "the search measures its chosen sets on it and needs"
    require_examples(test.datasets.values(), test.split, 1, needs)
    screen = new_screen_source(calib, settings)  # checks its input before anything runs
    docs = run_scores(calib, model, root, progress)
    names = list(calib.datasets)
    found, shortlists = search_objectives(calib, settings, screen, progress)
    meta = {
        "beam_width": None if settings.exhaustive else settings.beam_width,
        "exhaustive": settings.exhaustive,
        "max_remove": settings.max_remove,
        "generic_objective": settings.objective.value,
    }
    if screen is not None:  # absent otherwise: files without screening stay as they were
        meta["screen"] = {**settings.screen.to_json(), "teacher_forced_passes": screen.passes}

    def search_doc(name: str, best: list[dict]) -> dict:
        if screen is None:
            return {**meta, "best": best}
        return {**meta, "screen": {**meta["screen"], **shortlists[name].to_json()}, "best": best}

    test.prefetch(_test_pairs(names, found))
    for name in names:
        docs[name]["search"] = search_doc(
            name, [_best_row(calib, test, name, b) for b in found[name]]
        )
        docs[name]["versus_generic"] = [
            _versus(test, name, s, g) for s, g in zip(found[name], found[GENERIC], strict=True)
        ]
        write_scores(root, model, docs[name])
    generic = _doc(calib, GENERIC, model)
    generic["leave_one_out"] = _generic_loo(calib, names, settings.objective)
    generic["search"] = search_doc(
        GENERIC, [_generic_row(calib, test, names, b) for b in found[GENERIC]]
    )
    docs[GENERIC] = generic
    write_scores(root, model, generic)
    return docs


def new_screen_source(calib: ScoreSource, settings: SearchSettings) -> ScreenSource | None:
    if settings.screen is None:
        return None
    datasets = list(calib.datasets.values())
    return ScreenSource(
        calib.evaluator, datasets, settings.screen.measure, calib.split, calib.limit
    )


def search_objectives(
    calib: ScoreSource,
    settings: SearchSettings,
    screen: ScreenSource | None = None,
    progress: bool = False,
) -> tuple[dict[str, list[BestSet]], dict[str, Shortlist]]:
    """The best sets of every dataset and the generic objective on calib (and, when
    screening, each objective's shortlist hook with its counts)."""
    names = list(calib.datasets)
    search = exhaustive_search if settings.exhaustive else beam_search
    width = {} if settings.exhaustive else {"beam_width": settings.beam_width}
    found: dict[str, list[BestSet]] = {}
    shortlists: dict[str, Shortlist] = {}
    for name in _bar([*names, GENERIC], "search", progress):
        generic = name == GENERIC
        loss = (
            generic_loss(calib, names, settings.objective) if generic else dataset_loss(calib, name)
        )
        hook = {}
        if screen is not None:
            screened = screen_loss(screen, names if generic else [name], settings.objective)
            shortlists[name] = Shortlist(screened, settings.screen.verify_top)
            hook = {"shortlist": shortlists[name]}
        found[name] = search(loss, calib.num_blocks, settings.max_remove, **width, **hook)
    return found, shortlists


def _test_pairs(names: list[str], found: dict[str, list[BestSet]]) -> list[tuple[str, tuple]]:
    """What the test-split rows read: each dataset unpruned, with its own and the generic sets."""
    return [
        (name, removed)
        for name in names
        for removed in [(), *(b.removed_blocks for b in (*found[name], *found[GENERIC]))]
    ]


def _best_row(calib: ScoreSource, test: ScoreSource, name: str, best: BestSet) -> dict:
    return {
        **best.to_json(),
        "score": calib.score(name, best.removed_blocks),
        "test_score": test.score(name, best.removed_blocks),
    }


def _generic_row(calib: ScoreSource, test: ScoreSource, names: list[str], best: BestSet) -> dict:
    return {
        **best.to_json(),
        "per_dataset": {d: calib.relative_drop(d, best.removed_blocks) for d in names},
        "test_scores": {d: test.score(d, best.removed_blocks) for d in names},
    }


def _generic_loo(calib: ScoreSource, names: list[str], objective: GenericObjective) -> list[dict]:
    loss = generic_loss(calib, names, objective)
    return [{"block": b, "relative_drop": loss((b,))} for b in range(calib.num_blocks)]


def _versus(test: ScoreSource, name: str, specific: BestSet, generic: BestSet) -> dict:
    """Measured on the held-out split: score with the specific set vs the generic set."""
    s, g = set(specific.removed_blocks), set(generic.removed_blocks)
    spec_scores = test.per_example(name, specific.removed_blocks)
    gen_scores = test.per_example(name, generic.removed_blocks)
    return {
        "k": specific.k,
        "specific": sorted(s),
        "generic": sorted(g),
        "match": s == g,
        "jaccard": len(s & g) / len(s | g),
        "specific_score": float(np.mean(spec_scores)),
        "generic_score": float(np.mean(gen_scores)),
        "gap": float(np.mean(spec_scores) - np.mean(gen_scores)),
        "gap_ci95": list(paired_bootstrap_ci(spec_scores, gen_scores)),
        "base_score": test.score(name, ()),
    }


def _bar(items: list, desc: str, progress: bool) -> list:
    return tqdm(items, desc=desc, unit="objective") if progress else items
