"""policies reaches webhooks' raw deliveries only through the ledger webhooks registers (core.raw_ledgers):
never by model name, never with a copy of their statuses."""

from pathlib import Path

import policies
from core.raw_ledgers import raw_ledgers
from webhooks.models import Delivery, DeliveryStatus

POLICIES = Path(policies.__file__).parent


def _sources() -> list[Path]:
    return [path for path in POLICIES.rglob("*.py") if "migrations" not in path.relative_to(POLICIES).parts]


def test_policies_never_looks_up_a_model_by_name() -> None:
    assert [str(path) for path in _sources() if "get_model(" in path.read_text()] == []


def test_policies_never_names_the_webhooks_app() -> None:
    assert [str(path) for path in _sources() if "webhooks" in path.read_text()] == []


def test_webhooks_registers_its_delivery_ledger() -> None:
    (ledger,) = raw_ledgers()
    assert ledger.model is Delivery
    assert ledger.body_field == "body"


def test_only_settled_deliveries_are_purged_or_erased() -> None:
    (ledger,) = raw_ledgers()
    assert str(ledger.settled_rows().query) == str(
        Delivery.objects.filter(status__in=(DeliveryStatus.PROCESSED, DeliveryStatus.FAILED)).query
    )
    assert str(ledger.pending_rows().query) == str(Delivery.objects.filter(status=DeliveryStatus.RECEIVED).query)
