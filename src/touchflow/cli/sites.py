"""``touchflow site create|list|revoke``: websites that carry the pop-up snippet (官网弹窗).

``create`` prints the public site key (for the page's ``<script data-site-key>``) and the identify secret
(for the site's backend, which signs identify tokens with it) once; the secret is sealed before it is stored.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from touchflow.cli.common import console, fail, local_actor, open_app, print_json
from touchflow.domain.errors import FieldError
from touchflow.security.crypto import SecretError
from touchflow.services.sites import Site, create_site, list_sites, revoke_site

__all__ = ["register"]

site_app = typer.Typer(help="Websites with the pop-up snippet: site key, allowed origins, identify secret.",
                       no_args_is_help=True)


def _row(site: Site) -> dict[str, Any]:
    return {"name": site.name, "key_id": site.key_id, "origins": list(site.origins),
            "created_at": site.created_at.isoformat(),
            "revoked_at": site.revoked_at.isoformat() if site.revoked_at else None}


@site_app.command("create")
def site_create(
    name: Annotated[str, typer.Argument(help="the site, e.g. www.example.cn")],
    origin: Annotated[list[str] | None, typer.Option("--origin", help="https://host[:port] allowed to call "
                                                     "(repeatable; no '*')")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Create a site. Its site key and identify secret are printed once and not shown again."""
    with open_app() as application:
        try:
            box = application.secret_box()
            issued = create_site(application.services, name, origin or [], box.seal, actor=local_actor().label)
        except FieldError as exc:
            fail(f"{exc.field}: {exc.reason}")
        except SecretError as exc:
            fail(str(exc))
    if as_json:
        print_json({**_row(issued.site), "site_key": issued.site_key, "identify_secret": issued.identify_secret})
        return
    console.print(f"site {issued.site.name} (key id {issued.site.key_id}), origins: "
                  f"{', '.join(issued.site.origins)}")
    console.print("只显示一次，请立即保存 — shown once, store both now:")
    console.print("site key (public, for <script data-site-key=…>):")
    print(issued.site_key)
    console.print("identify secret (private, for your site backend only: it signs identify tokens):")
    print(issued.identify_secret)


@site_app.command("list")
def site_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Sites with their origins; keys and secrets are never shown again."""
    with open_app() as application:
        rows = [_row(s) for s in list_sites(application.services)]
    if as_json:
        print_json(rows)
        return
    if not rows:
        console.print("no sites yet: touchflow site create www.example.cn --origin https://www.example.cn")
        return
    table = Table("name", "key id", "origins", "created", "revoked")
    for r in rows:
        table.add_row(r["name"], r["key_id"], " ".join(r["origins"]), r["created_at"], r["revoked_at"] or "")
    console.print(table)


@site_app.command("revoke")
def site_revoke(name: Annotated[str, typer.Argument(help="the site's name or key id")],
                as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Revoke a site: its key stops working (within 30 s per server process), its identify secret is erased."""
    with open_app() as application:
        try:
            site = revoke_site(application.services, name, actor=local_actor().label)
        except LookupError as exc:
            fail(str(exc.args[0]), code=1)
    if as_json:
        print_json(_row(site))
        return
    console.print(f"revoked site {site.name} (key id {site.key_id})")


def register(app: typer.Typer) -> None:
    app.add_typer(site_app, name="site")
