"""The secret key ring of one database: where it lives, how it is read, made and rotated (ADR 0012).

One secret per database seals channel credentials (AES-GCM, ``crypto.SecretBox``) and, through
``link_secret``, signs tracking and unsubscribe links. It comes from, first match wins:

1. ``TOUCHFLOW_SECRET_KEY`` — base64url of 32 bytes; ``new,old,…`` keeps older keys accepted;
2. ``TOUCHFLOW_SECRET_KEY_FILE`` — a key file at that path;
3. SQLite: ``<database>.key`` beside the database file;
4. any other database: ``$TOUCHFLOW_CONFIG_DIR/keys/<dbname>-<hash of host, port, dbname>.key``.

A key file holds either one base64 key (the original SQLite format, still read) or a JSON ring
``{"format": "touchflow-keyring/1", "keys": [{"id", "key", "created_at", "retires_at"}]}``, the current
key first. Rotation adds a new current key and gives the others a ``retires_at`` (now + grace): until
then links signed with them still verify and secrets sealed with them still open. A key file readable by
group or others is refused. Nothing here makes a key on its own: ``touchflow init`` does, explicitly.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import secrets
import stat
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import cached_property
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from touchflow.security.crypto import SecretBox, SecretError, key_from_text

__all__ = ["ENV_KEY", "ENV_KEY_FILE", "DatabaseIdentity", "KeyRing", "KeySource", "NoSecretKey", "RingKey",
           "key_source", "link_secret"]

ENV_KEY = "TOUCHFLOW_SECRET_KEY"
ENV_KEY_FILE = "TOUCHFLOW_SECRET_KEY_FILE"
_FORMAT = "touchflow-keyring/1"
_HOW = ("run `touchflow init` (it creates the key file{where}), or set TOUCHFLOW_SECRET_KEY to base64url of 32 "
        "random bytes, e.g. python -c \"import base64,os;print(base64.urlsafe_b64encode(os.urandom(32)).decode())\"")


class NoSecretKey(SecretError):
    """This database has no secret key yet; the message says how to make one."""


def link_secret(key: bytes) -> str:
    """The link-signing secret derived from a sealing key (unchanged from before key rings: old links verify)."""
    text = base64.urlsafe_b64encode(key).decode("ascii")
    return hashlib.sha256(f"touchflow-links:{text}".encode()).hexdigest()


def _key_id(key: bytes) -> str:
    return hashlib.sha256(b"touchflow-key-id:" + key).hexdigest()[:12]


@dataclass(frozen=True)
class RingKey:
    id: str
    key: bytes = field(repr=False)
    created_at: datetime | None = None
    retires_at: datetime | None = None  # None: no end (the current key, or an old key given by hand)

    def usable_at(self, now: datetime) -> bool:
        return self.retires_at is None or now < self.retires_at

    @cached_property
    def link_secret(self) -> str:
        return link_secret(self.key)


@dataclass(frozen=True)
class KeyRing:
    keys: tuple[RingKey, ...]  # the current key first
    source: str  # where it came from, for messages: a path or TOUCHFLOW_SECRET_KEY

    @property
    def current(self) -> RingKey:
        return self.keys[0]

    def usable(self, now: datetime) -> tuple[RingKey, ...]:
        """The current key and every older key still inside its grace period."""
        return (self.current, *(k for k in self.keys[1:] if k.usable_at(now)))

    def box(self, now: datetime) -> SecretBox:
        """Seals with the current key; opens with any usable key."""
        usable = self.usable(now)
        return SecretBox(usable[0].key, old_keys=tuple(k.key for k in usable[1:]))

    def link_secrets(self, now: datetime) -> tuple[str, ...]:
        """Link-signing secrets, the current one first (it signs; all of them verify)."""
        return tuple(k.link_secret for k in self.usable(now))

    def rotated(self, now: datetime, grace: timedelta, new_key: bytes | None = None) -> KeyRing:
        """A new current key; the old keys retire at ``now + grace`` (sooner if they already were due), and
        keys already past their grace are dropped."""
        key = new_key or AESGCM.generate_key(bit_length=256)
        until = now + grace
        kept = tuple(replace(k, retires_at=until if k.retires_at is None else min(k.retires_at, until))
                     for k in self.keys if k.usable_at(now))
        return KeyRing((RingKey(_key_id(key), key, now, None), *kept), self.source)


def _text_time(value: object, path: str) -> datetime | None:
    if value is None:
        return None
    try:
        found = datetime.fromisoformat(str(value))
    except ValueError as exc:
        raise SecretError(f"{path}: not a time ({exc})") from None
    if found.tzinfo is None:
        raise SecretError(f"{path}: a time needs its UTC offset")
    return found


def parse_ring(text: str, source: str) -> KeyRing:
    text = text.strip()
    if not text.startswith("{"):  # the original format: one base64 key
        key = key_from_text(text)
        return KeyRing((RingKey(_key_id(key), key),), source)
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise SecretError(f"{source}: not a key file ({exc})") from None
    if not isinstance(data, dict) or data.get("format") != _FORMAT or not isinstance(data.get("keys"), list) \
            or not data["keys"]:
        raise SecretError(f"{source}: not a key file (expected format {_FORMAT} with at least one key)")
    keys: list[RingKey] = []
    for i, item in enumerate(data["keys"]):
        if not isinstance(item, dict) or not isinstance(item.get("key"), str):
            raise SecretError(f"{source}: keys[{i}].key: required")
        key = key_from_text(item["key"])
        keys.append(RingKey(str(item.get("id") or _key_id(key)), key, _text_time(item.get("created_at"), source),
                            _text_time(item.get("retires_at"), source)))
    return KeyRing(tuple(keys), source)


def format_ring(ring: KeyRing) -> str:
    return json.dumps({"format": _FORMAT, "keys": [
        {"id": k.id, "key": base64.urlsafe_b64encode(k.key).decode("ascii"),
         "created_at": k.created_at.isoformat() if k.created_at else None,
         "retires_at": k.retires_at.isoformat() if k.retires_at else None} for k in ring.keys]}, indent=2) + "\n"


@dataclass(frozen=True)
class KeySource:
    """Where one database's key ring is: the environment (``env_text``) or a file (``path``), or nowhere."""

    env_text: str | None = None
    path: Path | None = None
    why: str = ""  # how the path was chosen, for messages

    def describe(self) -> str:
        if self.env_text is not None:
            return ENV_KEY
        return str(self.path) if self.path else "nowhere"

    def exists(self) -> bool:
        return self.env_text is not None or (self.path is not None and self.path.exists())

    def load(self) -> KeyRing:
        if self.env_text is not None:
            keys = [key_from_text(part) for part in self.env_text.split(",") if part.strip()]
            if not keys:
                raise SecretError(f"{ENV_KEY} is empty")
            return KeyRing(tuple(RingKey(_key_id(k), k) for k in keys), ENV_KEY)
        if self.path is None:
            raise NoSecretKey("no secret key: this database has no key file location; set TOUCHFLOW_SECRET_KEY, "
                              "TOUCHFLOW_SECRET_KEY_FILE or TOUCHFLOW_CONFIG_DIR, then run `touchflow init`")
        try:
            mode = self.path.stat().st_mode
        except FileNotFoundError:
            raise NoSecretKey(f"no secret key at {self.path}: " + _HOW.format(where=f" {self.path}")) from None
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise SecretError(f"{self.path} is readable by group or others (mode {stat.S_IMODE(mode):04o}): "
                              f"run chmod 600 {self.path}")
        return parse_ring(self.path.read_text(encoding="ascii"), str(self.path))

    def stamp(self) -> tuple[int, int, int] | None:
        """Changes when the key file is replaced (rotation): readers re-load then."""
        if self.path is None or self.env_text is not None:
            return None
        try:
            st = self.path.stat()
        except OSError:
            return None
        return st.st_ino, st.st_mtime_ns, st.st_size

    def create(self, now: datetime) -> bool:
        """Make a key file with one fresh key unless there is a key already; True when one was made."""
        if self.exists():
            self.load()  # an unreadable or too-open key is reported now, not at the first send
            return False
        if self.path is None:
            self.load()  # raises, saying what to set
            return False
        key = AESGCM.generate_key(bit_length=256)
        try:
            self.write(KeyRing((RingKey(_key_id(key), key, now),), str(self.path)), exclusive=True)
        except FileExistsError:  # another init made it meanwhile: theirs is the key
            self.load()
            return False
        return True

    def write(self, ring: KeyRing, *, exclusive: bool = False) -> None:
        """Write the ring, mode 0600, replacing the file atomically (a reader sees the old or the new ring)."""
        if self.path is None or self.env_text is not None:
            raise SecretError(f"the key comes from {ENV_KEY}: change it there (new key first: "
                              f"{ENV_KEY}=<new>,<old>) and restart; or move it to a key file to rotate it here")
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            self._write(self.path, format_ring(ring), exclusive)
        except FileExistsError:
            raise
        except OSError as exc:
            raise SecretError(f"cannot write the key file {self.path}: {exc.strerror or exc} (choose another place "
                              f"with {ENV_KEY_FILE} or TOUCHFLOW_CONFIG_DIR)") from None

    @staticmethod
    def _write(path: Path, text: str, exclusive: bool) -> None:
        temp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="ascii") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            if exclusive:
                os.link(temp, path)  # fails if another process made one meanwhile
            else:
                os.replace(temp, path)
        finally:
            temp.unlink(missing_ok=True)


_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")


@dataclass(frozen=True)
class DatabaseIdentity:
    """What names a database for its key file (never the user or password: one key per database, not per login)."""

    backend: str  # sqlite, postgresql …
    host: str | None
    port: int | None
    database: str | None  # a file path for SQLite


def key_source(db: DatabaseIdentity, *, env_key: str | None, key_file: str | None,
               config_dir: str | None) -> KeySource:
    """The key source of database ``db`` (see the module docstring for the order)."""
    if env_key:
        return KeySource(env_text=env_key)
    if key_file:
        return KeySource(path=Path(key_file).expanduser(), why=ENV_KEY_FILE)
    if db.backend == "sqlite":
        if db.database and db.database != ":memory:" and not db.database.startswith("file:"):
            return KeySource(path=Path(f"{db.database}.key"), why="beside the SQLite database")
        return KeySource()
    if not config_dir:
        return KeySource()
    identity = f"{db.backend}://{db.host or ''}:{db.port or ''}/{db.database or ''}"
    digest = hashlib.sha256(identity.encode()).hexdigest()[:16]
    name = f"{_SAFE.sub('_', db.database or 'default')}-{digest}.key"
    return KeySource(path=Path(config_dir).expanduser() / "keys" / name, why="TOUCHFLOW_CONFIG_DIR")
