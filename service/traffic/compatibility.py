"""Whether a candidate version can answer beside the main one: the same inputs, task and classes.

Kept apart from the candidate's scoring so BentoML's own process, which checks this at start-up
but scores nothing, does not import the scoring core.
"""

from __future__ import annotations

from service.model.version import ModelVersion


class CandidateError(Exception):
    """The candidate cannot run beside the main model."""


def schema_differences(main: ModelVersion, candidate: ModelVersion) -> list[str]:
    """Return what differs between the two versions' inputs and classes; empty when nothing."""
    ours = {f.name: f for f in main.schema.features}
    theirs = {f.name: f for f in candidate.schema.features}
    found = []
    if missing := [name for name in ours if name not in theirs]:
        found.append(f"the candidate lacks {', '.join(missing)}")
    if extra := [name for name in theirs if name not in ours]:
        found.append(f"the candidate also needs {', '.join(extra)}")
    for name in ours.keys() & theirs.keys():
        if ours[name].kind != theirs[name].kind:
            found.append(f"{name} is {ours[name].kind} for the main model, {theirs[name].kind}")
    if main.schema.task != candidate.schema.task:
        found.append(
            f"the main model does {main.schema.task}, the candidate {candidate.schema.task}"
        )
    main_classes, candidate_classes = (
        list(map(str, main.schema.classes)),
        list(map(str, candidate.schema.classes)),
    )
    if main_classes != candidate_classes:
        found.append(
            f"classes differ: {', '.join(main_classes)} against {', '.join(candidate_classes)}"
        )
    return sorted(found)


def check_compatible(main: ModelVersion, candidate: ModelVersion) -> None:
    if differences := schema_differences(main, candidate):
        raise CandidateError(
            f"candidate {candidate.tag} cannot run beside {main.tag}: " + "; ".join(differences)
        )
