"""security/passwords.py and security/totp.py: argon2id with re-hashing, TOTP steps, recovery codes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyotp
from argon2 import PasswordHasher

from touchflow.domain.governance.accounts import totp_step
from touchflow.security import totp
from touchflow.security.passwords import hash_password, verify_password

NOW = datetime(2026, 3, 2, 1, 0, 10, tzinfo=UTC)


def test_passwords_are_argon2id_hashes_that_verify() -> None:
    stored = hash_password("correct horse 42 battery")
    assert stored.startswith("$argon2id$") and "correct horse" not in stored
    assert stored != hash_password("correct horse 42 battery")  # salted
    assert verify_password(stored, "correct horse 42 battery").ok
    assert verify_password(stored, "correct horse 42 batterY").ok is False
    assert verify_password("not a hash", "x").ok is False


def test_a_hash_with_old_parameters_is_replaced_at_the_next_login() -> None:
    weak = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash("correct horse 42 battery")
    checked = verify_password(weak, "correct horse 42 battery")
    assert checked.ok and checked.new_hash is not None and checked.new_hash.startswith("$argon2id$v=19$m=65536")
    assert verify_password(checked.new_hash, "correct horse 42 battery").new_hash is None


def test_totp_codes_match_their_step_one_step_either_side() -> None:
    secret = totp.new_secret()
    at = int(NOW.timestamp())
    step = totp_step(NOW)
    assert totp.match_step(secret, pyotp.TOTP(secret).at(at), NOW) == step
    assert totp.match_step(secret, pyotp.TOTP(secret).at(at - 30), NOW) == step - 1
    assert totp.match_step(secret, pyotp.TOTP(secret).at(at + 30), NOW) == step + 1
    assert totp.match_step(secret, pyotp.TOTP(secret).at(at + 90), NOW) is None
    assert totp.match_step(secret, "12345", NOW) is None and totp.match_step(secret, "abcdef", NOW) is None
    late = NOW + timedelta(seconds=60)
    assert totp.match_step(secret, pyotp.TOTP(secret).at(at), late) is None


def test_provisioning_uri_names_touchflow_and_the_qr_code_is_svg() -> None:
    secret = totp.new_secret()
    uri = totp.provisioning_uri(secret, "li.na@example.cn")
    parsed = pyotp.parse_uri(uri)
    assert isinstance(parsed, pyotp.TOTP) and parsed.secret == secret and parsed.issuer == "Touchflow"
    svg = totp.qr_svg(uri)
    assert svg.startswith("<svg") and svg.rstrip().endswith("</svg>")


def test_recovery_codes_are_random_and_hashed_after_normalising() -> None:
    codes = totp.new_recovery_codes()
    assert len(codes) == 10 == len(set(codes)) and all(len(c) == 19 and c.count("-") == 3 for c in codes)
    code = codes[0]
    assert totp.hash_recovery_code(code) == totp.hash_recovery_code(f" {code.upper().replace('-', ' ')} ")
    assert len(totp.hash_recovery_code(code)) == 64 and code not in totp.hash_recovery_code(code)
    assert not totp.looks_like_totp(code)
