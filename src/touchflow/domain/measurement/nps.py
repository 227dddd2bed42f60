"""Net Promoter Score from ``survey_response`` events (goal: NPS ≥ 50).

Every response with an integer ``score`` 0–10 counts (a contact who answers twice counts twice: NPS surveys
are per occasion). Promoters score 9–10, passives 7–8, detractors 0–6; NPS = % promoters − % detractors,
from −100 to 100, ``None`` without responses. Scores that are not whole numbers 0–10 are counted as invalid
and left out.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

__all__ = ["NpsResult", "net_promoter_score", "valid_score"]


@dataclass(frozen=True)
class NpsResult:
    promoters: int
    passives: int
    detractors: int
    invalid: int

    @property
    def responses(self) -> int:
        return self.promoters + self.passives + self.detractors

    @property
    def score(self) -> float | None:
        if self.responses == 0:
            return None
        return 100.0 * (self.promoters - self.detractors) / self.responses


def valid_score(value: Any) -> int | None:
    """The score as an int 0–10 (``"9"`` and ``9.0`` too), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        value = value.strip()
        if not value.isdigit():
            return None
        value = int(value)
    if isinstance(value, float):
        if not value.is_integer():
            return None
        value = int(value)
    if isinstance(value, int) and 0 <= value <= 10:
        return value
    return None


def net_promoter_score(scores: Iterable[Any]) -> NpsResult:
    promoters = passives = detractors = invalid = 0
    for raw in scores:
        score = valid_score(raw)
        if score is None:
            invalid += 1
        elif score >= 9:
            promoters += 1
        elif score >= 7:
            passives += 1
        else:
            detractors += 1
    return NpsResult(promoters, passives, detractors, invalid)
