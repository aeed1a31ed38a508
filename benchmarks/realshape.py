"""Real-shaped synthetic studies for the sync benchmark: about 30 KB each, with results sections.

``real_shaped_study(i)`` is ``tests.worldgen.make_study(i)`` (our synthetic protocol, matching one default search)
with the results and document sections of a real record grafted on, round-robin over the recorded records in
``../shared/ctgov/responses`` that have them; when that folder is absent, an equivalent generated results section
(participant flow, baseline characteristics, outcome measures with groups and measurements, adverse events) of
the same size and nesting. Each study's measurement values are made its own, so no two records are alike.
"""

from __future__ import annotations

import copy
import functools
import json
from pathlib import Path
from typing import Any

from tests.worldgen import make_study

_REPO = Path(__file__).resolve().parent.parent
# ../shared/ctgov next to the repository (or next to the folder of worktrees holding it).
SHARED = next((p for p in (_REPO.parent / "shared" / "ctgov" / "responses",
                           _REPO.parent.parent / "shared" / "ctgov" / "responses") if p.is_dir()),
              _REPO.parent / "shared" / "ctgov" / "responses")
_GRAFTED = ("resultsSection", "documentSection")
_GRAFTED_PROTOCOL = ("outcomesModule", "referencesModule", "ipdSharingStatementModule")  # search-neutral modules


@functools.cache
def _donors() -> tuple[dict[str, Any], ...]:
    """The grafted sections of each recorded record of 10-110 KB that has results or documents."""
    donors = []
    for path in sorted(SHARED.glob("**/*.json")):
        try:
            data = json.loads(path.read_bytes())
        except ValueError:
            continue
        size = path.stat().st_size
        if isinstance(data, dict) and 10_000 <= size <= 110_000 and any(k in data for k in _GRAFTED):
            protocol = data.get("protocolSection") or {}
            donors.append({**{k: data[k] for k in _GRAFTED if k in data},
                           "protocol": {k: protocol[k] for k in _GRAFTED_PROTOCOL if k in protocol}})
    return tuple(donors) or (_generated_sections(),)


def donors_are_real() -> bool:
    """True when the grafted sections come from recorded API responses."""
    return "generated" not in _donors()[0]


def real_shaped_study(i: int) -> dict[str, Any]:
    """Study number i: the synthetic protocol plus a real-shaped results section, ~30 KB of compact JSON."""
    study = make_study(i)
    donors = _donors()
    grafted = copy.deepcopy(donors[i % len(donors)])
    grafted.pop("generated", None)
    study["protocolSection"].update(grafted.pop("protocol", {}))
    _personalise(grafted, i)
    study.update(grafted)
    study["hasResults"] = "resultsSection" in grafted
    return study


def _personalise(value: Any, i: int) -> None:
    """Make every measurement "value" of the results this study's own (deterministic in i)."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "value" and isinstance(item, str):
                value[key] = f"{item}.{i % 97}" if item.isdigit() else item
            else:
                _personalise(item, i)
    elif isinstance(value, list):
        for item in value:
            _personalise(item, i)


def _generated_sections() -> dict[str, Any]:
    """A results section of the size and nesting of a recorded one (~25 KB), for when none is on disk."""
    groups = [{"id": f"OG00{g}", "title": f"Arm {g + 1}", "description": "Participants receive the study drug "
               "twice daily for 52 weeks, with visits every four weeks and a follow-up visit after the last dose."}
              for g in range(3)]  # fmt: skip
    def measure(n: int, kind: str) -> dict[str, Any]:
        return {
            "type": kind, "title": f"Outcome measure {n}", "reportingStatus": "POSTED", "paramType": "MEAN",
            "dispersionType": "STANDARD_DEVIATION", "unitOfMeasure": "cells/uL", "timeFrame": "Week 52",
            "description": "Change from baseline in absolute neutrophil count over the treatment period.",
            "groups": groups,
            "denoms": [{"units": "Participants", "counts": [{"groupId": g["id"], "value": "12"} for g in groups]}],
            "classes": [{"title": f"Visit {v}", "categories": [{"measurements": [
                {"groupId": g["id"], "value": str(100 + v * 7 + n), "spread": str(10 + v)} for g in groups]}]}
                for v in range(4)],
        }  # fmt: skip
    return {
        "generated": True,
        "resultsSection": {
            "participantFlowModule": {"groups": [{"id": f"FG00{g}", "title": f"Arm {g + 1}"} for g in range(3)],
                                      "periods": [{"title": "Overall Study", "milestones": [
                                          {"type": t, "achievements": [{"groupId": f"FG00{g}", "numSubjects": "12"}
                                                                       for g in range(3)]}
                                          for t in ("STARTED", "COMPLETED", "NOT COMPLETED")]}]},
            "baselineCharacteristicsModule": {"groups": groups, "measures": [measure(n, "BASELINE") for n in range(6)]},
            "outcomeMeasuresModule": {"outcomeMeasures": [measure(n, "PRIMARY" if n < 2 else "SECONDARY")
                                                          for n in range(10)]},
            "adverseEventsModule": {"frequencyThreshold": "5", "timeFrame": "52 weeks", "eventGroups": [
                {**g, "seriousNumAffected": 1, "seriousNumAtRisk": 12} for g in groups]},
        },
    }  # fmt: skip
