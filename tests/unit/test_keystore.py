"""The key ring file: formats read, rotation arithmetic, the environment form, and where each database's key
file is."""

from __future__ import annotations

import base64
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from touchflow.security.crypto import SecretBox, SecretError
from touchflow.security.keystore import (
    DatabaseIdentity,
    KeySource,
    NoSecretKey,
    format_ring,
    key_source,
    link_secret,
    parse_ring,
)

NOW = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


def b64(key: bytes) -> str:
    return base64.urlsafe_b64encode(key).decode()


def test_rotation_retires_old_keys_after_the_grace_and_drops_them_at_the_next_rotation() -> None:
    first = KeySource(env_text=b64(os.urandom(32))).load()
    second = first.rotated(NOW, timedelta(days=30))
    assert second.current.key != first.current.key and second.keys[1].retires_at == NOW + timedelta(days=30)
    assert len(second.usable(NOW + timedelta(days=29))) == 2 and len(second.usable(NOW + timedelta(days=30))) == 1
    third = second.rotated(NOW + timedelta(days=31), timedelta(days=30))
    assert [k.id for k in third.keys] == [third.current.id, second.current.id]  # the first key is gone
    shorter = third.rotated(NOW + timedelta(days=32), timedelta(0))
    assert len(shorter.usable(NOW + timedelta(days=32))) == 1  # --grace 0: old keys stop at once
    assert parse_ring(format_ring(third), "x").keys == third.keys


def test_the_environment_may_hold_new_and_old_keys() -> None:
    old, new = os.urandom(32), os.urandom(32)
    sealed = SecretBox(old).seal({"p": 1}, "channel:sms")
    ring = KeySource(env_text=f"{b64(new)},{b64(old)}").load()
    assert ring.current.key == new
    assert ring.box(NOW).open(sealed, "channel:sms") == {"p": 1}
    assert ring.link_secrets(NOW) == (link_secret(new), link_secret(old))
    with pytest.raises(SecretError, match="32 bytes"):
        KeySource(env_text="c2hvcnQ=").load()


def test_key_files_are_refused_when_missing_open_to_others_or_malformed(tmp_path: Path) -> None:
    path = tmp_path / "k.key"
    with pytest.raises(NoSecretKey, match="touchflow init"):
        KeySource(path=path).load()
    assert KeySource(path=path).create(NOW) is True and KeySource(path=path).create(NOW) is False
    path.chmod(0o640)
    with pytest.raises(SecretError, match="chmod 600"):
        KeySource(path=path).load()
    path.chmod(0o600)
    path.write_text('{"format": "something-else", "keys": []}', encoding="ascii")
    with pytest.raises(SecretError, match="not a key file"):
        KeySource(path=path).load()


def test_each_database_has_its_own_key_file() -> None:
    def where(url: str, **options: str | None) -> Path | None:
        settings: dict[str, str | None] = {"env_key": None, "key_file": None, "config_dir": "/cfg", **options}
        parsed = make_url(url)
        db = DatabaseIdentity(parsed.get_backend_name(), parsed.host, parsed.port, parsed.database)
        return key_source(db, env_key=settings["env_key"], key_file=settings["key_file"],
                          config_dir=settings["config_dir"]).path

    assert where("sqlite:////data/tf.db") == Path("/data/tf.db.key")
    one = where("postgresql+psycopg://u:pw@db1:5432/crm")
    assert one is not None and one.parent == Path("/cfg/keys") and one.name.startswith("crm-")
    assert one == where("postgresql+psycopg://other:pw2@db1:5432/crm")  # the same database, another login
    assert one != where("postgresql+psycopg://u@db2:5432/crm") != where("postgresql+psycopg://u@db1:5432/shop")
    assert where("postgresql+psycopg://u@db1/crm", key_file="/etc/tf.key") == Path("/etc/tf.key")
    assert where("postgresql+psycopg://u@db1/crm", config_dir=None) is None
    assert where("postgresql+psycopg://u@db1/crm", env_key=b64(bytes(32))) is None
