"""Who a template waiting for compliance review waits for (issue 16: publishing says which template waits
for whom): the roles that grant ``content.review`` and the active people holding them, and who asked when."""

from __future__ import annotations

from touchflow.domain.governance.permissions import roles
from touchflow.domain.unit_of_work import UnitOfWork

__all__ = ["waiting_for"]


def waiting_for(uow: UnitOfWork, name: str, version: int) -> str:
    """``"whitepaper_digest@2 waits for compliance review by Compliance reviewer (合规审核员): 钱审核; asked by
    editor on 2026-12-06"``: the finding publishing shows, so the marketer knows whom to ask."""
    deciding = [r for r in roles().values() if "content.review" in r.permissions]
    role_names = {r.name for r in deciding}
    people = sorted(u.display_name or u.email for u in uow.accounts.users()
                    if u.role in role_names and u.disabled_at is None)
    request = next((r for r in uow.content.reviews("pending", name) if r.template_version == version), None)
    who = ", ".join(f"{r.en} ({r.zh})" for r in deciding) or "content.review"
    text = f"{name}@{version} waits for compliance review by {who}: "
    text += ", ".join(people) if people else "nobody holds that role yet (an administrator assigns it)"
    if request is not None:
        text += f"; asked by {request.requested_by} on {request.requested_at.date().isoformat()}"
    return text
