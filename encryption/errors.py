class EncryptionError(Exception):
    """Base of every error this package raises; messages carry ids only, never stored bytes or plaintext."""


class DecryptionError(EncryptionError):
    """A stored value cannot be opened: bad tag, unknown or destroyed key, or not an envelope at all."""


class KeyUnavailableError(DecryptionError):
    """The key a value names is unknown, destroyed, or past its destroy time."""


class EncryptedFieldMisuseError(EncryptionError):
    """An ORM operation that would silently misbehave on ciphertext (lookup, ordering, update with plaintext)."""


class KeyOperationError(EncryptionError):
    """A key operation refused: a gate said no, or the state does not allow it."""


class ContentExpiredError(DecryptionError):
    """The value's retention has run out (read-time enforcement): it is refused, whether or not a key still
    opens it. A subclass of ``DecryptionError``, so code that tolerates an unreadable value tolerates this."""
