"""Who did something, as the system authenticated them (P5): never a name the caller typed.

Until accounts exist an actor is an API key (``apikey:<key id>``, named after the key) or the operating-system
account running the CLI (``os:<login>``). ``id`` is what rules compare (the four-eyes review: the approver is
not the author); ``label`` is what records and the audit log show.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Actor"]

_LABEL_MAX = 100  # the width of created_by / reviewer / audit actor columns


@dataclass(frozen=True)
class Actor:
    id: str
    name: str = ""

    @classmethod
    def api_key(cls, key_id: str, key_name: str) -> Actor:
        return cls(f"apikey:{key_id}", key_name)

    @classmethod
    def os_user(cls, login: str) -> Actor:
        return cls(f"os:{login}")

    @classmethod
    def of(cls, who: Actor | str) -> Actor:
        """An internal caller (demo, tests, benchmarks) may still name itself; entry points pass an Actor."""
        return who if isinstance(who, Actor) else cls(who)

    @property
    def label(self) -> str:
        return (f"{self.id} ({self.name})" if self.name else self.id)[:_LABEL_MAX]

    def same_as(self, recorded: str) -> bool:
        """Whether ``recorded`` (a label stored with a template version or review) names this actor."""
        return recorded in (self.id, self.label) or recorded.split(" (", 1)[0] == self.id
