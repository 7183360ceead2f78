"""Envelope v1 and its associated data, without the database: layout, binding, injectivity."""

from __future__ import annotations

import os
import struct
import uuid
from dataclasses import replace

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import example, given, settings
from hypothesis import strategies as st

from encryption.envelope import Context, associated_data, key_id_of, open_sealed, seal
from encryption.errors import DecryptionError

TENANT = uuid.UUID(int=0xA)
ROW = uuid.UUID(int=0x1)
CONTEXT = Context(tenant_id=TENANT, model="testapp.Note", field="body", row_id=ROW)
NOT_AN_ENVELOPE = "stored value is not an envelope v1 (plaintext or corrupt)"
AUTHENTICATION_FAILED = "authentication failed: the value was altered or belongs elsewhere"


@pytest.fixture
def cipher() -> AESGCM:
    return AESGCM(os.urandom(32))


def test_envelope_is_version_key_id_nonce_ciphertext_tag(cipher: AESGCM) -> None:
    first = seal(cipher, 0x01020304, b"hello", CONTEXT)
    second = seal(cipher, 0x01020304, b"hello", CONTEXT)

    assert len(first) == 1 + 4 + 12 + 5 + 16
    assert first[:5] == b"\x01\x01\x02\x03\x04"
    assert key_id_of(first) == 0x01020304
    assert first[5:17] != second[5:17]  # a fresh nonce each time
    assert first[17:] != second[17:]
    assert b"hello" not in first
    assert open_sealed(cipher, first, CONTEXT) == b"hello"
    assert open_sealed(cipher, seal(cipher, 9, b"", CONTEXT), CONTEXT) == b""


def test_associated_data_is_canonical_and_length_prefixed() -> None:
    header = b"\x01" + bytes(16)

    assert associated_data(CONTEXT, header) == (
        b"gw/v1"
        + b"\x00\x10" + TENANT.bytes
        + b"\x00\x0ctestapp.Note"
        + b"\x00\x04body"
        + b"\x00\x11" + b"u" + ROW.bytes
        + b"\x00\x11" + header
    )  # fmt: skip
    operator = Context(tenant_id=None, model="m", field="f", row_id=7)
    assert associated_data(operator, b"") == b"gw/v1\x00\x00\x00\x01m\x00\x01f\x00\x02i7\x00\x00"


@pytest.mark.parametrize(
    "elsewhere",
    [
        replace(CONTEXT, tenant_id=uuid.UUID(int=0xB)),
        replace(CONTEXT, tenant_id=None),
        replace(CONTEXT, model="testapp.PlainNote"),
        replace(CONTEXT, field="summary"),
        replace(CONTEXT, row_id=uuid.UUID(int=0x2)),
    ],
    ids=["other-tenant", "operator", "other-model", "other-field", "other-row"],
)
def test_a_value_opens_only_where_it_was_sealed(cipher: AESGCM, elsewhere: Context) -> None:
    envelope = seal(cipher, 1, b"secret", CONTEXT)

    with pytest.raises(DecryptionError) as raised:
        open_sealed(cipher, envelope, elsewhere)

    assert str(raised.value) == AUTHENTICATION_FAILED
    assert open_sealed(cipher, envelope, CONTEXT) == b"secret"


def test_the_header_is_authenticated(cipher: AESGCM) -> None:
    envelope = seal(cipher, 1, b"secret", CONTEXT)
    renamed = envelope[:1] + struct.pack(">I", 2) + envelope[5:]  # same cipher, another key id claimed

    with pytest.raises(DecryptionError) as raised:
        open_sealed(cipher, renamed, CONTEXT)

    assert str(raised.value) == AUTHENTICATION_FAILED


@pytest.mark.parametrize(
    "stored",
    [
        b"",
        b"\x01" + bytes(31),  # one byte short of the smallest envelope
        b"plaintext that was planted in the column",
        b"\x00" + bytes(40),  # the legacy-plaintext version is not accepted
        b"\x02" + bytes(40),
    ],
    ids=["empty", "too-short", "plaintext", "version-0", "version-2"],
)
def test_anything_but_an_envelope_is_refused(cipher: AESGCM, stored: bytes) -> None:
    with pytest.raises(DecryptionError) as raised:
        open_sealed(cipher, stored, CONTEXT)

    assert str(raised.value) == NOT_AN_ENVELOPE


# --- injectivity of the associated data --------------------------------------------------------------

tenants = st.none() | st.uuids()
short_text = st.text(max_size=6)


@st.composite
def placements(draw: st.DrawFn) -> tuple[Context, bytes]:
    context = Context(tenant_id=draw(tenants), model=draw(short_text), field=draw(short_text), row_id=draw(st.uuids()))
    return context, draw(st.binary(max_size=24))


@settings(max_examples=500)
@given(placements(), placements())
def test_associated_data_is_injective(first: tuple[Context, bytes], second: tuple[Context, bytes]) -> None:
    if first != second:
        assert associated_data(*first) != associated_data(*second)
    else:
        assert associated_data(*first) == associated_data(*second)


def _cut_points(length: int) -> st.SearchStrategy[tuple[int, int, int]]:
    return st.tuples(*[st.integers(0, length)] * 3).map(lambda cuts: tuple(sorted(cuts)))


def _split(stream: str, cuts: tuple[int, int, int], tenant: uuid.UUID | None) -> tuple[Context, bytes]:
    first, second, third = cuts
    context = Context(tenant_id=tenant, model=stream[:first], field=stream[first:second], row_id=stream[second:third])
    return context, stream[third:].encode()


@st.composite
def near_collisions(draw: st.DrawFn) -> tuple[tuple[Context, bytes], tuple[Context, bytes]]:
    """Two placements whose parts concatenate to the same bytes, cut at different points: ("ab", "c") / ("a", "bc")."""
    stream = draw(st.text(alphabet=st.characters(codec="ascii"), min_size=1, max_size=10))
    cuts = draw(_cut_points(len(stream)))
    other_cuts = draw(_cut_points(len(stream)).filter(lambda candidate: candidate != cuts))
    tenant = draw(tenants)
    return _split(stream, cuts, tenant), _split(stream, other_cuts, tenant)


@settings(max_examples=500)
@given(near_collisions())
@example(
    (
        (Context(tenant_id=None, model="ab", field="c", row_id="r"), b"h"),
        (Context(tenant_id=None, model="a", field="bc", row_id="r"), b"h"),
    )
)
def test_associated_data_resists_moving_bytes_between_parts(
    pair: tuple[tuple[Context, bytes], tuple[Context, bytes]],
) -> None:
    first, second = pair
    joined = [context.model + context.field + str(context.row_id) + header.decode() for context, header in pair]

    assert joined[0] == joined[1]
    assert associated_data(*first) != associated_data(*second)


def test_associated_data_distinguishes_row_id_types() -> None:
    as_uuid = Context(tenant_id=TENANT, model="m", field="f", row_id=uuid.UUID(bytes=b"0123456789abcdef"))
    as_text = replace(as_uuid, row_id="0123456789abcdef")

    assert associated_data(as_uuid, b"") != associated_data(as_text, b"")
