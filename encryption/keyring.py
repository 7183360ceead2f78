"""KEKs and data keys: creation, wrapping, and a short-lived in-process cache of ready cipher objects.

Unwrapped keys live only here (in ``encryption.key_cache``'s caches), as ``AESGCM`` objects, for at most
ENCRYPTION_KEY_CACHE_SECONDS and never past their key's ``destroy_after``; never in Redis, the database, logs or
task arguments.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import os
import struct
import time
import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from core.db import primary_keys_reserve
from encryption.envelope import (
    CIPHERTEXT_SLICE,
    HEADER_SLICE,
    KEY_ID_OF,
    NONCE_SLICE,
    NOT_AN_ENVELOPE,
    NOT_AUTHENTIC,
    OVERHEAD_BYTES,
    VERSION,
    Context,
    seal,
)
from encryption.errors import DecryptionError, KeyUnavailableError
from encryption.key_cache import (
    Entry,
    cache_lock,
    cached,
    kek_cache,
    made_here,
    read_cache,
    remember,
    uncommitted,
    write_cache,
)
from encryption.models import MAX_KEY_ID, OPERATOR, DataKey, KeyEncryptionKey, KeyState
from encryption.providers import root_provider

KEY_BYTES = 32
NONCE_BYTES = 12
READABLE_STATES = frozenset({KeyState.ACTIVE, KeyState.DECRYPT_ONLY, KeyState.PENDING_DESTROY})
CANARY_MODEL = "encryption.canary"


def owner_of(tenant_id: uuid.UUID | None) -> str:
    return OPERATOR if tenant_id is None else owner_of_int(tenant_id.int)


@functools.cache
def owner_of_int(tenant_int: int) -> str:
    """A tenant's key owner from its UUID's int: cached, and hashed in C (hashing a UUID runs Python code)."""
    return str(uuid.UUID(int=tenant_int))


def cache_seconds() -> float:
    return float(settings.ENCRYPTION_KEY_CACHE_SECONDS)


def write_cache_seconds() -> float:
    """How long a process may keep writing with a key after another process replaced it."""
    return min(10.0, cache_seconds())


def cache_clear() -> None:
    with cache_lock:
        read_cache.clear()
        write_cache.clear()
        kek_cache.clear()
        _hmac_cache.clear()
        _readable_index_cache.clear()


def cache_forget(key_id: int) -> None:
    """Drop one data key from this process's caches (after it was destroyed or rotated here)."""
    with cache_lock:
        read_cache.pop(key_id, None)
        _hmac_cache.pop(key_id, None)
        _readable_index_cache.clear()
        for slot, entry in list(write_cache.items()):
            if entry.key_id == key_id:
                del write_cache[slot]


def _lp(*parts: str | int) -> bytes:
    encoded = [str(part).encode() for part in parts]
    return b"".join(struct.pack(">H", len(part)) + part for part in encoded)


# --- KEKs --------------------------------------------------------------------------------------------


def kek_wrap_context(kek: KeyEncryptionKey) -> bytes:
    return _lp("kek", kek.owner, kek.version)


def kek_create(owner: str, version: int) -> KeyEncryptionKey:
    context = kek_wrap_context(KeyEncryptionKey(owner=owner, version=version))
    root_version, wrapped = root_provider().wrap(os.urandom(KEY_BYTES), context=context)
    kek = KeyEncryptionKey.objects.create(owner=owner, version=version, root_version=root_version, wrapped_key=wrapped)
    made_here(("kek", owner, version))
    return kek


def kek_active(owner: str) -> KeyEncryptionKey:
    """The owner's active KEK, created on first use (concurrent first uses agree on one)."""
    existing = KeyEncryptionKey.objects.filter(owner=owner, state=KeyState.ACTIVE).first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            return kek_create(owner, 1)
    except IntegrityError:
        return KeyEncryptionKey.objects.get(owner=owner, state=KeyState.ACTIVE)


def kek_cipher(owner: str, version: int) -> AESGCM:
    entry = cached(kek_cache, (owner, version))  # type: ignore[arg-type]
    if entry is not None:
        return entry.cipher
    kek = KeyEncryptionKey.objects.filter(owner=owner, version=version).first()
    if kek is None or kek.state == KeyState.DESTROYED:
        raise KeyUnavailableError(f"KEK {owner} v{version} does not exist or was destroyed")
    raw = root_provider().unwrap(bytes(kek.wrapped_key), version=kek.root_version, context=kek_wrap_context(kek))
    cipher = AESGCM(raw)
    entry = Entry(cipher, 0, owner, time.time() + cache_seconds())
    remember(kek_cache, (owner, version), entry, identity=("kek", owner, version))
    return cipher


def kek_unwrap_raw(kek: KeyEncryptionKey) -> bytes:
    """The KEK's bytes, for re-wrapping under a new root version; never cached or returned further."""
    return root_provider().unwrap(bytes(kek.wrapped_key), version=kek.root_version, context=kek_wrap_context(kek))


# --- data keys --------------------------------------------------------------------------------------


def dek_context(key: DataKey, kek_version: int) -> bytes:
    return _lp("dek", key.owner, key.purpose, key.scope, key.version, kek_version)


def dek_wrap(key: DataKey, raw: bytes, kek_version: int) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    return nonce + kek_cipher(key.owner, kek_version).encrypt(nonce, raw, dek_context(key, kek_version))


def dek_unwrap(key: DataKey) -> bytes:
    if key.wrapped_key is None or key.state == KeyState.DESTROYED:
        raise KeyUnavailableError(f"key {key.pk} is destroyed")
    blob = bytes(key.wrapped_key)
    try:
        return kek_cipher(key.owner, key.kek_version).decrypt(
            blob[:NONCE_BYTES], blob[NONCE_BYTES:], dek_context(key, key.kek_version)
        )
    except InvalidTag:
        raise DecryptionError(f"key {key.pk} failed to unwrap") from None


def canary_context(key_id: int) -> Context:
    return Context(tenant_id=None, model=CANARY_MODEL, field="canary", row_id=key_id)


def data_key_create(
    *, owner: str, purpose: str, scope: str, version: int, destroy_after: datetime | None = None
) -> DataKey:
    """A new active data key with its canary. Callers hold a transaction (the canary is a second write)."""
    kek = kek_active(owner)
    raw = os.urandom(KEY_BYTES)
    key = DataKey(
        owner=owner,
        purpose=purpose,
        scope=scope,
        version=version,
        kek_version=kek.version,
        destroy_after=destroy_after,
        canary=b"",
        canary_sha256="",
    )
    key.wrapped_key = dek_wrap(key, raw, kek.version)
    key.save(force_insert=True)
    _canaries_seal([key], [raw])
    key.save(update_fields=["canary", "canary_sha256"])
    return key


def _canaries_seal(keys: Sequence[DataKey], raws: Sequence[bytes]) -> None:
    """Each key's canary: a random value sealed under the key and its id (which must be known), and its hash."""
    for key, raw in zip(keys, raws, strict=True):
        if key.pk is None or key.pk > MAX_KEY_ID:
            raise OverflowError("the key store ran out of 32-bit key ids (or the database returned none)")
        made_here(key.pk)
        canary_plain = os.urandom(32)
        key.canary = seal(AESGCM(raw), key.pk, canary_plain, canary_context(key.pk))
        key.canary_sha256 = hashlib.sha256(canary_plain).hexdigest()


def data_keys_create_many(*, tenant_id: uuid.UUID | None, purpose: str, scopes: Sequence[str]) -> None:
    """Active keys for many new scopes at once (the subject keys of a batch of new contacts): on PostgreSQL their
    ids are reserved first and the keys go in with their canaries in one insert; elsewhere one insert and one
    canary update in a transaction. Called outside a transaction, the keys commit here and are cached at once.
    The scopes must be new (a fresh row id): a scope with a key already fails the one-active-key constraint, and
    the whole call with it."""
    if not scopes:
        return
    owner = owner_of(tenant_id)
    kek = kek_active(owner)
    raws = [os.urandom(KEY_BYTES) for _ in scopes]
    keys = [
        DataKey(owner=owner, purpose=purpose, scope=scope, version=1, kek_version=kek.version, canary=b"")
        for scope in scopes
    ]
    for key, raw in zip(keys, raws, strict=True):
        key.wrapped_key = dek_wrap(key, raw, kek.version)
    reserved = primary_keys_reserve(DataKey, len(keys))
    if reserved is None:  # no sequence to draw ids from: insert, then seal under the ids given, in a transaction
        with transaction.atomic():
            DataKey.objects.bulk_create(keys)
            _canaries_seal(keys, raws)
            DataKey.objects.bulk_update(keys, ["canary", "canary_sha256"])
    else:  # sealed under their reserved ids first: one INSERT, atomic alone (bulk_create's own, minus its BEGIN)
        for key, key_id in zip(keys, reserved, strict=True):
            key.pk = key_id
        _canaries_seal(keys, raws)
        DataKey.objects.all()._insert(keys, fields=DataKey._meta.concrete_fields)  # type: ignore[attr-defined]
    expires_at = time.time() + write_cache_seconds()
    for key, raw in zip(keys, raws, strict=True):
        entry = Entry(AESGCM(raw), key.pk, owner, expires_at)
        remember(write_cache, (owner, purpose, key.scope), entry, identity=key.pk)
        remember(read_cache, key.pk, entry, identity=key.pk)


def data_key_active(*, owner: str, purpose: str, scope: str, destroy_after: datetime | None = None) -> DataKey:
    """The active key for (owner, purpose, scope), created when there is none."""
    existing = DataKey.objects.filter(owner=owner, purpose=purpose, scope=scope, state=KeyState.ACTIVE).first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            latest = DataKey.objects.filter(owner=owner, purpose=purpose, scope=scope).aggregate(top=Max("version"))
            return data_key_create(
                owner=owner, purpose=purpose, scope=scope, version=(latest["top"] or 0) + 1, destroy_after=destroy_after
            )
    except IntegrityError:
        return DataKey.objects.get(owner=owner, purpose=purpose, scope=scope, state=KeyState.ACTIVE)


def cipher_for_write(
    *, tenant_id: uuid.UUID | None, purpose: str, scope: str = "", destroy_after: datetime | None = None
) -> tuple[int, AESGCM]:
    owner = owner_of(tenant_id)
    entry = cached(write_cache, (owner, purpose, scope))  # type: ignore[arg-type]
    if entry is not None:
        return entry.key_id, entry.cipher
    key = data_key_active(owner=owner, purpose=purpose, scope=scope, destroy_after=destroy_after)
    entry = _entry_for(key, cache_for=write_cache_seconds())
    remember(write_cache, (owner, purpose, scope), entry, identity=key.pk)
    remember(read_cache, key.pk, entry, identity=key.pk)
    return entry.key_id, entry.cipher


def cipher_for_read(key_id: int, *, owner: str) -> AESGCM:
    entry = read_cache.get(key_id)
    if entry is None or entry.expires_at <= time.time():
        key = DataKey.objects.filter(pk=key_id).first()
        if key is None:
            raise KeyUnavailableError(f"key {key_id} does not exist")
        entry = _entry_for(key, cache_for=cache_seconds())
        remember(read_cache, key_id, entry, identity=key_id)
    if entry.owner != owner:
        raise KeyUnavailableError(f"key {key_id} belongs to another owner")
    return entry.cipher


def open_envelope(envelope: bytes, owner: str, bound: bytes) -> bytes:
    """Open a stored value with the read key its header names (checked as ``cipher_for_read`` checks it);
    ``bound`` is its associated data up to the header (see ``envelope.open_bound``, which this inlines).

    The one call a field makes per value read: positional arguments, the key id read in place, no call
    between the cache lookup and AES-GCM."""
    if len(envelope) < OVERHEAD_BYTES or envelope[0] != VERSION:
        raise DecryptionError(NOT_AN_ENVELOPE)
    key_id = KEY_ID_OF(envelope)[0]
    entry = read_cache.get(key_id)
    if entry is None or entry.owner != owner or entry.expires_at <= time.time():
        cipher = cipher_for_read(key_id, owner=owner)
    else:
        cipher = entry.cipher
    try:
        return cipher.decrypt(envelope[NONCE_SLICE], envelope[CIPHERTEXT_SLICE], bound + envelope[HEADER_SLICE])
    except InvalidTag:
        raise DecryptionError(NOT_AUTHENTIC) from None


def ciphers_prefetch(key_ids: Iterable[int]) -> None:
    """Load the read keys of many values in one query, checked as ``cipher_for_read`` checks them: a batch that
    opens values under many keys (one subject key per contact) then finds them cached. A key that cannot be
    used is skipped here; opening a value under it raises as before."""
    now = time.time()
    missing = {key_id for key_id in key_ids if (entry := read_cache.get(key_id)) is None or entry.expires_at <= now}
    if not missing:
        return
    for key in DataKey.objects.filter(pk__in=missing):
        try:
            entry = _entry_for(key, cache_for=cache_seconds())
        except KeyUnavailableError:
            continue
        remember(read_cache, key.pk, entry, identity=key.pk)


def _entry_for(key: DataKey, *, cache_for: float) -> Entry:
    if key.state not in READABLE_STATES:
        raise KeyUnavailableError(f"key {key.pk} is {key.state}")
    if key.destroy_after is not None and key.destroy_after <= timezone.now():
        raise KeyUnavailableError(f"key {key.pk} is past its destroy time")
    expires_at = time.time() + cache_for
    if key.destroy_after is not None:
        expires_at = min(expires_at, key.destroy_after.timestamp())
    return Entry(AESGCM(dek_unwrap(key)), key.pk, key.owner, expires_at)


# --- blind-index keys (HMAC) ------------------------------------------------------------------------

_hmac_cache: dict[int, tuple[hmac.HMAC, str, float]] = {}
_readable_index_cache: dict[tuple[str, str], tuple[list[int], float]] = {}


def hmac_for_key(key_id: int) -> hmac.HMAC:
    """A ready HMAC-SHA256 object for a blind-index key (callers ``.copy()`` it before use)."""
    known = _hmac_cache.get(key_id)
    if known is not None and known[2] > time.time():
        return known[0]
    key = DataKey.objects.filter(pk=key_id).first()
    if key is None:
        raise KeyUnavailableError(f"key {key_id} does not exist")
    entry = _entry_for(key, cache_for=cache_seconds())  # checks state and destroy time
    prototype = hmac.new(dek_unwrap(key), digestmod=hashlib.sha256)
    remember(_hmac_cache, key_id, (prototype, key.owner, entry.expires_at), identity=key_id)
    return prototype


def blind_index_keys(*, tenant_id: uuid.UUID | None, scope: str, for_write: bool) -> list[int]:
    """The tenant's blind-index key ids for ``scope``: the active one to write, every readable one to look up.

    The readable set is cached as briefly as a write key (another process's rotation shows within that
    time); an empty set and keys not committed yet are never cached.
    """
    owner = owner_of(tenant_id)
    if for_write:
        return [_blind_index_write_key(owner, scope)]
    known_ids = _readable_index_cache.get((owner, scope))
    if known_ids is not None and known_ids[1] > time.time():
        return known_ids[0]
    readable = DataKey.objects.filter(owner=owner, purpose="blind_index", scope=scope, state__in=READABLE_STATES)
    key_ids = list(readable.order_by("-version").values_list("pk", flat=True))
    if key_ids and not uncommitted.intersection(key_ids):
        with cache_lock:
            _readable_index_cache[(owner, scope)] = (key_ids, time.time() + write_cache_seconds())
    return key_ids


def _blind_index_write_key(owner: str, scope: str) -> int:
    entry = cached(write_cache, (owner, "blind_index", scope))  # type: ignore[arg-type]
    if entry is not None:
        return entry.key_id
    key = data_key_active(owner=owner, purpose="blind_index", scope=scope)
    entry = _entry_for(key, cache_for=write_cache_seconds())
    remember(write_cache, (owner, "blind_index", scope), entry, identity=key.pk)
    with cache_lock:
        _readable_index_cache.pop((owner, scope), None)  # a first or new key: look it up again next time
    return key.pk
