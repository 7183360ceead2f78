"""Room on each page of messaging_message for the new versions of its rows (PostgreSQL only; see
core.table_storage). A message is rewritten by each status, and its content blanked by the purge: without the
room, each blanked row's new version went to another page, a full-page image each after a checkpoint, and the
purge's WAL budget turned that WAL into time (rows purged/s fell to 0.3x with 200,000 rows stored).

65 %: the purge blanks the rows of a page together (they expire together), in one transaction, so the page must
hold a blanked version (about 210 bytes: the row without content and provider id) of each of its rows at once,
which fillfactor <= row / (row + 210) allows; rows with content are 400-600 bytes."""

from django.db import migrations

from core.table_storage import fillfactor_set

MESSAGE_FILLFACTOR = 65


class Migration(migrations.Migration):
    dependencies = [
        ("messaging", "0021_parked_receipts"),
    ]

    operations = [
        fillfactor_set("messaging_message", MESSAGE_FILLFACTOR),
    ]
