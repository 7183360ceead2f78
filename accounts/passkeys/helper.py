"""The WebAuthn ceremonies' options: user verification is required in both, whatever the client or the
library's defaults ask for, and the relying party comes from settings only."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django_otp_webauthn.helpers import WebAuthnHelper
from django_otp_webauthn.utils import get_credential_model
from webauthn.helpers import parse_authentication_credential_json
from webauthn.helpers.structs import UserVerificationRequirement


class GatewayWebAuthnHelper(WebAuthnHelper):  # type: ignore[misc]
    """An assertion or attestation whose authenticator data lacks the UV flag is refused.

    The library asks for user verification only in passwordless logins and leaves it "preferred" at
    registration; a second factor here must be something the person has *and* unlocks (PIN, biometrics).
    """

    def get_generate_registration_options_kwargs(self, *, user: Any) -> dict[str, Any]:
        options: dict[str, Any] = super().get_generate_registration_options_kwargs(user=user)
        options["authenticator_selection"].user_verification = UserVerificationRequirement.REQUIRED
        return options

    def get_generate_authentication_options_kwargs(
        self, *, user: Any = None, require_user_verification: bool = True
    ) -> dict[str, Any]:
        options: dict[str, Any] = super().get_generate_authentication_options_kwargs(
            user=user, require_user_verification=True
        )
        return options

    def register_complete(self, user: Any, state: dict[str, Any], data: dict[str, Any]) -> Any:
        return super().register_complete(user, {**state, "require_user_verification": True}, data)

    def authenticate_complete(self, user: Any, state: dict[str, Any], data: dict[str, Any]) -> Any:
        """Verified and its sign count stored under a row lock: two concurrent assertions of one passkey are checked
        one after the other, so a cloned authenticator's repeated counter is refused (py_webauthn)."""
        raw_id = parse_authentication_credential_json(data).raw_id
        credential_model = get_credential_model()
        with transaction.atomic():
            locked = credential_model.objects.select_for_update()
            list(locked.filter(credential_id_sha256=credential_model.get_credential_id_sha256(raw_id)))
            return super().authenticate_complete(user, {**state, "require_user_verification": True}, data)
