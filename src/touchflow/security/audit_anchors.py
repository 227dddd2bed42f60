"""The audit chain's anchors, kept OUTSIDE the database: one JSON line a day (date, last id, last hash).

A rewrite of the whole chain, or a cut tail, leaves the chain consistent in itself; an anchor written earlier
does not match it any more (``audit verify --anchors``). The file is only appended to. Where it is, first
match wins: ``TOUCHFLOW_AUDIT_ANCHOR_FILE``; beside the database's key file (``<key file>.anchors``, see
``keystore.key_source``). Copy it off the machine (log shipping, a backup) for anchors an owner of the
server cannot rewrite either.
"""

from __future__ import annotations

import os
from pathlib import Path

from touchflow.domain.governance.audit_chain import Anchor, parse_anchor

__all__ = ["ENV_ANCHOR_FILE", "anchor_file_beside", "append_anchor", "read_anchors"]

ENV_ANCHOR_FILE = "TOUCHFLOW_AUDIT_ANCHOR_FILE"


def anchor_file_beside(key_file: Path | None) -> Path | None:
    return None if key_file is None else key_file.with_name(f"{key_file.name}.anchors")


def append_anchor(path: Path, anchor: Anchor) -> None:
    """Append one line (O_APPEND: lines of concurrent writers never interleave) and flush it to disk."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (anchor.line() + "\n").encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)


def read_anchors(path: Path) -> list[Anchor]:
    """Every anchor in the file; ValueError naming the line that is not one, OSError if unreadable."""
    lines = path.read_text(encoding="ascii").splitlines()
    return [parse_anchor(line, f"{path}:{n}") for n, line in enumerate(lines, 1) if line.strip()]
