"""The checkpoint signer, registered from above: audit may not use cryptography, encryption registers Ed25519
(``encryption.signing``) when the apps are ready."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from django.core.exceptions import ImproperlyConfigured


class CheckpointSigner(Protocol):
    public_key: str  # as ``audit checkpoint-key`` prints it
    key_id: str

    def sign(self, payload: bytes) -> str: ...


SignatureCheck = Callable[[str, bytes, str], bool]  # (public key, payload, signature) -> valid
KeyIdOf = Callable[[str], str]  # public key -> its id; ValueError for a malformed key


@dataclass(frozen=True, slots=True)
class Signing:
    signer: Callable[[], CheckpointSigner]
    signature_valid: SignatureCheck
    key_id_of: KeyIdOf


_registered: list[Signing] = []


def checkpoint_signing_register(signing: Signing) -> None:
    _registered[:] = [signing]


def checkpoint_signing() -> Signing:
    if not _registered:
        raise ImproperlyConfigured("no checkpoint signer is registered (the encryption app registers one)")
    return _registered[0]
