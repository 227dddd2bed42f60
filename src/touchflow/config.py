"""Settings, read once and explicitly (never at import time)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = ["DEFAULT_DATABASE_FILE", "Settings"]

DEFAULT_DATABASE_FILE = "touchflow.db"


@dataclass(frozen=True)
class Settings:
    database_url: str
    batch_size: int = 2000
    send_lease_s: float = 120.0  # a message being sent is claimed again after this if its worker died
    secret_key: str | None = None  # base64url of 32 bytes (``new,old`` accepted): seals credentials, signs links
    secret_key_file: str | None = None  # a key file; default: <db>.key (SQLite) or one in config_dir
    config_dir: str | None = None  # where key files of non-SQLite databases live (none: no key file)
    public_url: str = "http://127.0.0.1:8000"  # where tracking links, pixels and unsubscribe pages point
    audit_anchor_file: str | None = None  # the audit chain's daily anchors; default: beside the key file

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, cwd: Path | None = None) -> Settings:
        env = os.environ if env is None else env
        url = env.get("TOUCHFLOW_DATABASE_URL")
        if not url:
            base = cwd or Path.cwd()
            url = f"sqlite:///{(base / DEFAULT_DATABASE_FILE).as_posix()}"
        return cls(database_url=normalise_database_url(url),
                   send_lease_s=float(env.get("TOUCHFLOW_SEND_LEASE_S", "120")),
                   secret_key=env.get("TOUCHFLOW_SECRET_KEY") or None,
                   secret_key_file=env.get("TOUCHFLOW_SECRET_KEY_FILE") or None,
                   config_dir=config_directory(env),
                   public_url=env.get("TOUCHFLOW_PUBLIC_URL", "http://127.0.0.1:8000").rstrip("/"),
                   audit_anchor_file=env.get("TOUCHFLOW_AUDIT_ANCHOR_FILE") or None)


def config_directory(env: Mapping[str, str]) -> str:
    """``TOUCHFLOW_CONFIG_DIR``, else ``$XDG_CONFIG_HOME/touchflow``, else ``~/.config/touchflow``."""
    if env.get("TOUCHFLOW_CONFIG_DIR"):
        return env["TOUCHFLOW_CONFIG_DIR"]
    base = env.get("XDG_CONFIG_HOME") or str(Path(env.get("HOME") or Path.home()) / ".config")
    return str(Path(base) / "touchflow")


def normalise_database_url(url: str) -> str:
    """Accept the usual ``postgresql://`` spelling and route it to psycopg 3."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url
