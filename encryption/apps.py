from django.apps import AppConfig


class EncryptionConfig(AppConfig):
    name = "encryption"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from audit.checkpoints.signer import Signing, checkpoint_signing_register
        from encryption import checks  # noqa: F401  (registers the system checks)
        from encryption.signing import Ed25519CheckpointSigner, public_key_id, signature_valid

        checkpoint_signing_register(Signing(Ed25519CheckpointSigner, signature_valid, public_key_id))
