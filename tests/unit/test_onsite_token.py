"""Identify tokens: what a site backend signs and what Touchflow believes."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from pathlib import Path

import pytest

from touchflow.onsite_token import IdentifyTokenError, make_identify_token, read_identify_token

SECRET = "tfid_test-secret"
NOW = 1_780_000_000


def refused(token: str, visitor: str = "anon:v1", secret: str = SECRET) -> str:
    with pytest.raises(IdentifyTokenError) as caught:
        read_identify_token(secret, token, visitor, NOW)
    return caught.value.reason


def test_a_token_round_trips_and_is_a_standard_hs256_jwt() -> None:
    token = make_identify_token(SECRET, "anon:v1", "email:ann@example.cn", NOW + 300)
    assert read_identify_token(SECRET, token, "anon:v1", NOW) == "email:ann@example.cn"
    header, claims, signature = token.split(".")
    pad = lambda s: s + "=" * (-len(s) % 4)  # noqa: E731
    assert json.loads(base64.urlsafe_b64decode(pad(header))) == {"alg": "HS256", "typ": "JWT"}
    assert json.loads(base64.urlsafe_b64decode(pad(claims))) == {"vid": "anon:v1", "sub": "email:ann@example.cn",
                                                                  "exp": NOW + 300}
    expected = hmac.new(SECRET.encode(), f"{header}.{claims}".encode(), hashlib.sha256).digest()
    assert base64.urlsafe_b64decode(pad(signature)) == expected  # what any JWT library computes


def test_every_way_to_get_it_wrong_names_its_reason() -> None:
    good = make_identify_token(SECRET, "anon:v1", "email:ann@example.cn", NOW + 300)
    header, claims, signature = good.split(".")
    none_header = base64.urlsafe_b64encode(b'{"alg":"none"}').rstrip(b"=").decode()
    assert refused(make_identify_token(SECRET, "anon:v1", "email:a@b.cn", NOW)) == "expired"
    assert refused(make_identify_token(SECRET, "anon:v1", "email:a@b.cn", NOW + 2 * 86400)) == "too_long_lived"
    assert refused(good, secret="tfid_other") == "signature"
    assert refused(f"{header}.{claims}.{signature[:-2]}AA") == "signature"
    assert refused(good, visitor="anon:v2") == "visitor"
    assert refused(f"{none_header}.{claims}.") == "algorithm"
    assert refused(f"{header}.{claims}.") == "signature"
    for junk in ("", "a.b", "a..c", "é.é.é", "x" * 5000, "!!!.???.***"):
        assert refused(junk) == "malformed", junk
    bool_exp = make_identify_token(SECRET, "anon:v1", "email:a@b.cn", NOW + 300).split(".")
    body = base64.urlsafe_b64encode(b'{"vid":"anon:v1","sub":"email:a@b.cn","exp":true}').rstrip(b"=").decode()
    sig = base64.urlsafe_b64encode(hmac.new(SECRET.encode(), f"{bool_exp[0]}.{body}".encode(),
                                            hashlib.sha256).digest()).rstrip(b"=").decode()
    assert refused(f"{bool_exp[0]}.{body}.{sig}") == "malformed"
    assert refused(make_identify_token(SECRET, "anon:v1", "", NOW + 300)) == "identifier"


def test_the_example_in_the_docs_makes_tokens_touchflow_accepts() -> None:
    """docs/subsystems/tracking.md shows a site backend how to sign without Touchflow installed."""
    doc = (Path(__file__).parents[2] / "docs" / "subsystems" / "tracking.md").read_text(encoding="utf-8")
    code = doc.split("```python\n", 1)[1].split("\n# in the login handler", 1)[0]
    scope: dict[str, object] = {}
    exec(code, scope)  # our own documentation
    make = scope["identify_token"]
    assert callable(make)
    token = make(SECRET, "anon:v1", "email:安@example.cn")
    assert read_identify_token(SECRET, str(token), "anon:v1", int(time.time())) == "email:安@example.cn"
