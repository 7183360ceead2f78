"""The keyring's in-process caches of ready cipher objects, and the rule that keeps a key made in an open
transaction out of them until that transaction commits (a rolled-back key's id may be reused by a later key)."""

from __future__ import annotations

import itertools
import threading
import time
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.db import transaction


@dataclass(frozen=True, slots=True)
class Entry:
    cipher: AESGCM
    key_id: int
    owner: str
    expires_at: float


cache_lock = threading.Lock()
read_cache: dict[int, Entry] = {}
write_cache: dict[tuple[str, str, str], Entry] = {}
kek_cache: dict[tuple[str, int], Entry] = {}


# Each cache holds at most this many keys. An entry past its time is refused but stays until replaced, and a
# worker sending to many contacts meets a new subject key per contact: unbounded, each entry's cipher (its OpenSSL
# contexts) kept about 2.8 KB per contact. Over the bound the oldest quarter goes; a key needed again is reloaded.
CACHE_ENTRIES_MAX = 4096

uncommitted: set[object] = set()  # keys (and KEKs) this process made in a transaction not yet committed


def made_here(identity: object) -> None:
    uncommitted.add(identity)
    transaction.on_commit(lambda: uncommitted.discard(identity))


def remember(cache: dict[Any, Any], slot: object, value: object, *, identity: object) -> None:
    """Cache a key at once if it was committed before; a key made in the current transaction only once that
    commits, so a rolled-back key (whose id a later key may reuse) is never served from the cache."""

    def store() -> None:
        with cache_lock:
            cache.pop(slot, None)  # stored again last: the entries stored longest ago go first
            cache[slot] = value
            if len(cache) > CACHE_ENTRIES_MAX:
                for oldest in list(itertools.islice(cache, CACHE_ENTRIES_MAX // 4)):
                    del cache[oldest]

    if identity in uncommitted:
        transaction.on_commit(store)
    else:
        store()


def cached(cache: dict[object, Entry], key: object) -> Entry | None:
    entry = cache.get(key)
    if entry is not None and entry.expires_at > time.time():
        return entry
    return None
