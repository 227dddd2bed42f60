"""What every use case is handed: a way to open a unit of work, the clock and the id factory."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from touchflow.clock import Clock
from touchflow.domain.ids import IdFactory
from touchflow.domain.ports import UnitOfWork

__all__ = ["ServiceContext"]


@dataclass
class ServiceContext:
    uow: Callable[[], UnitOfWork]
    clock: Clock
    read_uow: Callable[[], UnitOfWork] | None = None  # a read-only transaction where the store has one
    ids: IdFactory = field(default_factory=IdFactory)

    def reader(self) -> UnitOfWork:
        return (self.read_uow or self.uow)()
