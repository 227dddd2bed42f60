"""People who log in (P2, P3): create, list, disable, reset their second factor, change their role.

Each verb is one transaction with one audit row, acted by an authenticated ``Actor`` (the CLI's local
administrator, or a person with ``users.manage``). Whatever weakens an account's hold on its sessions —
disabling it, resetting its 2FA, changing its role — revokes every session it has, so the next request
needs a fresh login (a new token: no session carries an old privilege).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from touchflow.domain.actors import Actor
from touchflow.domain.errors import FieldError
from touchflow.domain.governance.account_ports import UserRecord
from touchflow.domain.governance.accounts import check_password, normalise_email
from touchflow.domain.governance.permissions import role
from touchflow.domain.unit_of_work import UnitOfWork
from touchflow.security import totp
from touchflow.security.crypto import SecretBox, SecretError
from touchflow.security.passwords import hash_password
from touchflow.services.context import ServiceContext

__all__ = ["AccountExists", "UserNotFound", "UserSummary", "admin_count", "create_user", "disable_user", "enable_user",
           "list_users", "logout_user_everywhere", "reseal_totp_secrets", "reset_2fa", "set_password",
           "set_role"]

_NAME_MAX = 200


class UserNotFound(LookupError):
    pass


class AccountExists(FieldError):
    def __init__(self, email: str) -> None:
        super().__init__("email", f"{email} already has an account")


@dataclass(frozen=True)
class UserSummary:
    user: UserRecord
    recovery_codes_left: int
    live_sessions: int


def _clean_name(name: str) -> str:
    clean = " ".join(name.split())
    if not clean or len(clean) > _NAME_MAX or any(ord(c) < 32 for c in name if c not in "\t\n"):
        raise FieldError("name", f"a display name of 1–{_NAME_MAX} visible characters is needed")
    return clean


def create_user(ctx: ServiceContext, email: str, display_name: str, role_name: str, password: str, *,
                actor: Actor, locale: str = "zh-CN", time_zone: str = "Asia/Shanghai") -> UserRecord:
    """A new account with a password (checked against the policy) and no second factor yet: the first login
    enrols TOTP before the session becomes active."""
    address = normalise_email(email)
    name = _clean_name(display_name)
    role(role_name)  # FieldError("role", …) for an unknown role
    check_password(password, email=address, name=name)
    now = ctx.clock.now()
    user = UserRecord(ctx.ids.new(now), address, name, role_name, hash_password(password), now, locale, time_zone)
    with ctx.uow() as uow:
        if uow.accounts.user_by_email(address) is not None:
            raise AccountExists(address)
        uow.accounts.add_user(user)
        uow.audit.record(actor.label, "user.create", f"user:{user.id}",
                         {"email": address, "name": name, "role": role_name}, now)
        uow.commit()
    return user


def list_users(ctx: ServiceContext) -> list[UserSummary]:
    now = ctx.clock.now()
    with ctx.reader() as uow:
        return [UserSummary(u, uow.accounts.recovery_codes_left(u.id), len(uow.accounts.live_sessions_of(u.id, now)))
                for u in uow.accounts.users()]


def admin_count(ctx: ServiceContext) -> int:
    """Enabled administrators (``touchflow init`` makes the first one when there is none)."""
    with ctx.reader() as uow:
        return uow.accounts.count_admins()


def _change(ctx: ServiceContext, email: str, actor: Actor, action: str,
            change: Callable[[UnitOfWork, UserRecord], tuple[UserRecord, dict[str, object]]]) -> UserRecord:
    address = normalise_email(email)
    now = ctx.clock.now()
    with ctx.uow() as uow:
        user = uow.accounts.user_by_email(address)
        if user is None:
            raise UserNotFound(f"no account with email {address}")
        changed, details = change(uow, user)
        uow.accounts.save_user(changed)
        ended = uow.accounts.revoke_sessions_of(user.id, now)
        if changed.role != user.role:  # personal API keys act with their owner's role (never wider)
            details["keys_changed"] = uow.api_keys.set_owner_role(user.id, changed.role)
        if changed.disabled_at is not None and user.disabled_at is None:
            details["keys_revoked"] = uow.api_keys.revoke_owned_by(user.id, now)
        uow.audit.record(actor.label, action, f"user:{user.id}",
                         {"email": address, **{k: v for k, v in details.items() if isinstance(v, str | int)},
                          "sessions_ended": ended}, now)
        uow.commit()
    return changed


def _not_last_admin(uow: UnitOfWork, user: UserRecord, what: str) -> None:
    if user.role == "admin" and user.disabled_at is None and uow.accounts.count_admins() <= 1:
        raise FieldError("email", f"{user.email} is the last administrator: {what} would lock everyone out "
                                  "(make another administrator first)")


def _not_yourself(actor: Actor, user: UserRecord, what: str) -> None:
    """An administrator never disables, re-enables or resets the second factor of their own account (a second
    administrator does): one person cannot lock themself out, nor lift their own disablement."""
    if actor.id == f"user:{user.id}":
        raise FieldError("user", f"{what} your own account is not allowed: ask another administrator")


def disable_user(ctx: ServiceContext, email: str, *, actor: Actor) -> UserRecord:
    """The account can no longer log in; its sessions end now. Kept (audit rows name it), not deleted."""
    now = ctx.clock.now()

    def change(uow: UnitOfWork, user: UserRecord) -> tuple[UserRecord, dict[str, object]]:
        _not_yourself(actor, user, "disabling")
        if user.disabled_at is not None:
            return user, {"already": 1}
        _not_last_admin(uow, user, "disabling it")
        return replace(user, disabled_at=now), {}

    return _change(ctx, email, actor, "user.disable", change)


def enable_user(ctx: ServiceContext, email: str, *, actor: Actor) -> UserRecord:
    """A disabled account may log in again (its API keys stay revoked: new ones are issued if needed)."""

    def change(uow: UnitOfWork, user: UserRecord) -> tuple[UserRecord, dict[str, object]]:
        _not_yourself(actor, user, "re-enabling")
        if user.disabled_at is None:
            return user, {"already": 1}
        return replace(user, disabled_at=None), {}

    return _change(ctx, email, actor, "user.enable", change)


def reset_2fa(ctx: ServiceContext, email: str, *, actor: Actor) -> UserRecord:
    """Forget the TOTP secret and recovery codes (a lost phone): the next login enrols again."""

    def change(uow: UnitOfWork, user: UserRecord) -> tuple[UserRecord, dict[str, object]]:
        _not_yourself(actor, user, "resetting the second factor of")
        uow.accounts.replace_recovery_codes(user.id, [], ctx.clock.now())
        return replace(user, totp_secret=None, totp_enrolled_at=None, totp_last_step=None), {}

    return _change(ctx, email, actor, "user.2fa_reset", change)


def set_role(ctx: ServiceContext, email: str, role_name: str, *, actor: Actor) -> UserRecord:
    """Change the account's role; its sessions end, so the new privilege starts with a new session token."""
    role(role_name)

    def change(uow: UnitOfWork, user: UserRecord) -> tuple[UserRecord, dict[str, object]]:
        if role_name != "admin":
            _not_last_admin(uow, user, "changing its role")
        return replace(user, role=role_name), {"from": user.role, "to": role_name}

    return _change(ctx, email, actor, "user.set_role", change)


def set_password(ctx: ServiceContext, email: str, password: str, *, actor: Actor) -> UserRecord:
    """A new password set by an administrator (a forgotten one); the account's sessions end. TOTP stays."""
    address = normalise_email(email)
    with ctx.reader() as uow:
        found = uow.accounts.user_by_email(address)
    if found is None:
        raise UserNotFound(f"no account with email {address}")
    check_password(password, email=address, name=found.display_name)
    new_hash = hash_password(password)  # outside the write transaction: argon2 takes a while on purpose
    return _change(ctx, email, actor, "user.set_password", lambda uow, user: (replace(user, password_hash=new_hash),
                                                                               {}))


def logout_user_everywhere(ctx: ServiceContext, email: str, *, actor: Actor) -> UserRecord:
    """End every session of the account (an administrator's "log out everywhere")."""
    return _change(ctx, email, actor, "user.logout_all", lambda uow, user: (user, {}))


def reseal_totp_secrets(uow: UnitOfWork, old: SecretBox, new: SecretBox) -> tuple[list[str], list[str]]:
    """In a key rotation's transaction: every TOTP secret sealed again with the new key.
    (user ids re-sealed, user ids whose secret opened with no key of the ring)."""
    done: list[str] = []
    lost: list[str] = []
    for user_id, sealed in uow.accounts.sealed_totp_secrets():
        context = totp.sealing_context(user_id)
        try:
            plain = old.open(sealed, context)
        except SecretError:
            lost.append(user_id)
            continue
        uow.accounts.set_totp_secret(user_id, new.seal(plain, context))
        done.append(user_id)
    return done, lost
