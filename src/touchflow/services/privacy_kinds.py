"""The approval kinds of PIPL requests and incident response, registered on import (``approvals.KIND_MODULES``
lists this module): erasing a person's data and notifying the people an incident affected both need a second
person."""

from __future__ import annotations

from touchflow.services.approvals import register_kind
from touchflow.services.incidents import NOTIFY_KIND, execute_notify
from touchflow.services.privacy import ERASE_KIND, execute_erase

__all__: list[str] = []

register_kind(ERASE_KIND, permission="privacy.manage", label_zh="删除个人信息（PIPL）",
              label_en="Erase a person's data (PIPL)", execute=execute_erase)
register_kind(NOTIFY_KIND, permission="incidents.manage", label_zh="安全事件：通知受影响的用户",
              label_en="Incident: notify the people affected", execute=execute_notify)
