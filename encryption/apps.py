from django.apps import AppConfig


class EncryptionConfig(AppConfig):
    name = "encryption"
    default_auto_field = "django.db.models.BigAutoField"
