"""The field cipher, blind index and key wrapping of ``security.pii`` (ADR 0026), without a database."""

from __future__ import annotations

import struct

import pytest

from touchflow.security.pii import PiiCodec, PiiError, UnknownDataKey, derive_kek, new_data_key, unwrap_key, wrap_key


def codec(**keys: bytes) -> PiiCodec:
    return PiiCodec({7: keys.get("field", b"f" * 32)}, 7, keys.get("index", b"i" * 32), plaintext_left=False)


def test_a_ciphertext_is_version_key_id_nonce_and_sealed_value() -> None:
    c = codec()
    blob = c.encrypt("a@x.cn", "contact_identities", "value", "email:ab")
    assert struct.unpack_from(">BI", blob) == (1, 7) and c.key_of(blob) == 7
    assert len(blob) == 1 + 4 + 12 + len("a@x.cn") + 16
    assert b"a@x.cn" not in blob
    assert blob != c.encrypt("a@x.cn", "contact_identities", "value", "email:ab")  # a fresh nonce each time
    assert c.decrypt(blob, "contact_identities", "value", "email:ab") == "a@x.cn"


@pytest.mark.parametrize(("table", "column", "row"), [("contacts", "value", "email:ab"),
                                                      ("contact_identities", "name", "email:ab"),
                                                      ("contact_identities", "value", "email:cd")])
def test_the_row_and_column_are_bound(table: str, column: str, row: str) -> None:
    blob = codec().encrypt("a@x.cn", "contact_identities", "value", "email:ab")
    with pytest.raises(PiiError, match="copied from another row or column"):
        codec().decrypt(blob, table, column, row)


def test_a_tampered_or_foreign_ciphertext_fails_clearly() -> None:
    c = codec()
    blob = bytearray(c.encrypt("a@x.cn", "t", "c", "r"))
    blob[-1] ^= 1
    with pytest.raises(PiiError, match="does not open"):
        c.decrypt(bytes(blob), "t", "c", "r")
    with pytest.raises(UnknownDataKey):
        c.decrypt(b"\x01\x00\x00\x00\x09" + bytes(40), "t", "c", "r")
    with pytest.raises(PiiError, match="version 2"):
        c.decrypt(b"\x02" + bytes(40), "t", "c", "r")


def test_an_unknown_key_is_fetched_once_then_known() -> None:
    old = codec()
    blob = old.encrypt("甲", "contacts", "name", "c1")
    fetched: list[int] = []
    newer = PiiCodec({8: b"g" * 32}, 8, b"i" * 32, fetch=lambda k: fetched.append(k) or b"f" * 32)
    assert newer.decrypt(blob, "contacts", "name", "c1") == "甲"
    assert newer.decrypt(blob, "contacts", "name", "c1") == "甲"
    assert fetched == [7]


def test_the_blind_index_is_deterministic_keyed_and_full_length() -> None:
    c = codec()
    index = c.index("email", "a@x.cn")
    assert index == c.index("email", "a@x.cn") and len(index) == 64
    assert index != c.index("phone", "a@x.cn")  # the kind is part of what is indexed
    assert index != codec(index=b"j" * 32).index("email", "a@x.cn")  # another index key, another index
    assert index != codec(field=b"g" * 32, index=b"i" * 32).index("email", "b@x.cn")


def test_data_keys_are_wrapped_under_a_kek_bound_to_their_id_and_purpose() -> None:
    kek = derive_kek(b"r" * 32)
    assert kek != b"r" * 32 and len(kek) == 32
    key = new_data_key()
    wrapped = wrap_key(kek, key, 3, "field")
    assert key not in wrapped and unwrap_key(kek, wrapped, 3, "field") == key
    for args in ((derive_kek(b"s" * 32), wrapped, 3, "field"), (kek, wrapped, 4, "field"),
                 (kek, wrapped, 3, "index")):
        with pytest.raises(PiiError, match="does not unwrap"):
            unwrap_key(*args)
