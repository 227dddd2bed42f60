"""The SQLite database holds personal data and sealed credentials: it, its WAL and its shared-memory file are
readable by their owner only, whatever the umask (issue 10, item 9)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from touchflow.bootstrap import bootstrap
from touchflow.config import Settings
from touchflow.services.ingest import RawItem, upsert_contacts


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_database_wal_and_shm_are_created_0600(tmp_path: Path) -> None:
    database = tmp_path / "touchflow.db"
    previous = os.umask(0o022)  # the usual umask: files would be 0644
    try:
        application = bootstrap(Settings(f"sqlite:///{database.as_posix()}"))
        try:
            application.init_database()
            upsert_contacts(application.services, "crm", [RawItem({"email": "li.lei@example.cn"})])
            with application.engine.connect():  # the WAL and SHM exist while a connection is open
                files = [database, Path(f"{database}-wal"), Path(f"{database}-shm")]
                assert all(f.exists() for f in files)
                assert {f.name: mode(f) for f in files} == {f.name: 0o600 for f in files}
        finally:
            application.close()
    finally:
        os.umask(previous)


def test_an_existing_database_left_open_by_an_older_version_is_narrowed(tmp_path: Path) -> None:
    database = tmp_path / "old.db"
    application = bootstrap(Settings(f"sqlite:///{database.as_posix()}"))
    application.init_database()
    application.close()
    for name in (database, Path(f"{database}-wal"), Path(f"{database}-shm")):
        if name.exists():
            name.chmod(0o644)
    application = bootstrap(Settings(f"sqlite:///{database.as_posix()}"))
    try:
        with application.engine.connect():
            assert mode(database) == 0o600
            assert mode(Path(f"{database}-wal")) == 0o600 and mode(Path(f"{database}-shm")) == 0o600
    finally:
        application.close()
