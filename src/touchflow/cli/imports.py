"""Placeholder command group, filled in by its owner."""

from __future__ import annotations

import typer

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    del app
