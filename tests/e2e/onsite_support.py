"""What the pop-up tests share: a site made the way ``touchflow site create`` makes one, and tokens minted the
way a site backend mints them."""

from __future__ import annotations

import base64
import dataclasses
import os
from collections.abc import Sequence

from touchflow.bootstrap import Application
from touchflow.onsite_token import make_identify_token
from touchflow.services.sites import IssuedSite, create_site

ORIGIN = "https://www.example.cn"


def with_secret_key(app: Application) -> Application:
    """The application with a sealing key of its own (PostgreSQL has no key file beside the database)."""
    app.settings = dataclasses.replace(app.settings, secret_key=base64.urlsafe_b64encode(os.urandom(32)).decode())
    return app


def make_site(app: Application, name: str = "www.example.cn", origins: Sequence[str] = (ORIGIN,)) -> IssuedSite:
    return create_site(app.services, name, list(origins), app.secret_box().seal, actor="test")


def mint(app: Application, site: IssuedSite, visitor: str, identifier: str, ttl_s: int = 300) -> str:
    """A token as the site's backend issues it after the person logged in."""
    now = int(app.services.clock.now().timestamp())
    return make_identify_token(site.identify_secret, visitor, identifier, now + ttl_s)
