"""Cost of encryption at rest, as ratios against a baseline measured in the same run.

1. One small (64-byte) value: ``envelope.seal`` / ``open_sealed`` with a keyring cipher, and the field
   path (``EncryptedTextField.seal_value`` / ``open_bytes``), against a bare call on a cached ``AESGCM``
   (for encryption with a fresh random nonce, as any safe use needs).
   Target: envelope <= 3x bare, encrypt and decrypt.
2. ORM: load N rows and read three encrypted fields on each (``Note``) against the same shape in plaintext
   (``PlainNote``), on PostgreSQL when DATABASE_URL is set, else SQLite. Target: <= 1.5x.

The machine is shared and noisy, so only ratios carry a target; absolute times are context. Cases are
interleaved (a, b, c, a, b, c, ...) so that drift hits every side. The exit status is 0 even when a target
fails, unless ``--strict`` is given.

    make bench
    .venv/bin/python bench/crypto.py --rows 1000 --repeats 11 --strict
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _crypto import VALUE_BYTES
from _crypto.instructions import instructions_per_load, valgrind_found
from _crypto.micro import run_micro
from _crypto.orm import ORM_TARGET, run_orm
from _crypto.timing import Verdict, print_table
from _lib.database import describe_database
from _lib.environment import ROOT
from _lib.report import print_outcome


def django_setup(test_db_name: str, sqlite_dir: Path) -> None:
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))  # `python bench/crypto.py` puts bench/, not the project, on sys.path
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"  # installs tests.testapp (Note, PlainNote)
    import django
    from django.conf import settings

    database = settings.DATABASES["default"]
    test = database.setdefault("TEST", {})
    if database["ENGINE"] == "django.db.backends.sqlite3":
        test["NAME"] = str(sqlite_dir / f"{test_db_name}.sqlite3")
    else:
        test["NAME"] = test_db_name
    django.setup()


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=(
            "Benchmark encryption at rest: envelope vs bare AES-GCM on a 64-byte value (target <= 3x) and an "
            "ORM load of encrypted vs plaintext rows (target <= 1.5x). Uses PostgreSQL when DATABASE_URL is set, "
            "else SQLite, in a throwaway test database. Prints ratios measured in one run; exit status 0 "
            "unless --strict."
        )
    )
    parser.add_argument("--rows", type=int, default=1000, help="rows in the ORM benchmark (default 1000)")
    parser.add_argument("--repeats", type=int, default=11, help="interleaved samples per case, >= 5 (default 11)")
    parser.add_argument(
        "--instructions",
        action="store_true",
        help="also count the ORM case in machine instructions under valgrind (load-independent; about 2 min)",
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target fails")
    arguments = parser.parse_args(argv)
    if arguments.rows < 1:
        parser.error("--rows must be at least 1")
    if arguments.repeats < 5:  # noqa: PLR2004  (a median needs at least 5 samples)
        parser.error("--repeats must be at least 5")
    if arguments.instructions and not valgrind_found():
        parser.error("--instructions needs valgrind on PATH")
    return arguments


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    started = time.perf_counter()
    sqlite_dir = Path(tempfile.mkdtemp(prefix="bench_crypto_"))
    test_db_name = f"bench_crypto_{os.getpid()}"  # distinct per run: autoclobber never drops a neighbour's
    try:
        django_setup(test_db_name, sqlite_dir)
        return run(arguments, started)
    finally:
        shutil.rmtree(sqlite_dir, ignore_errors=True)


def print_instructions(database: str, rows: int) -> Verdict:
    """The ORM case in machine instructions per load (cachegrind), each side in a child process."""
    print("   counting instructions under valgrind (each side: 2 and 7 loads in a child process) ...", flush=True)
    plain = instructions_per_load(database, "plain")
    encrypted = instructions_per_load(database, "encrypted")
    print(f"   instructions per load of {rows} rows: PlainNote {plain / 1e6:.1f} M, Note {encrypted / 1e6:.1f} M")
    return Verdict(f"orm ({rows} rows, instructions): Note vs PlainNote", encrypted / plain, ORM_TARGET)


def run(arguments: argparse.Namespace, started: float) -> int:
    import cryptography
    import django
    from cryptography.hazmat.backends.openssl.backend import backend
    from django.db import connection
    from django.test.utils import setup_test_environment, teardown_test_environment

    from encryption import keyring

    setup_test_environment(debug=False)
    old_name = connection.settings_dict["NAME"]
    try:
        connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False, serialize=False)
        print("Encryption at rest: cost ratios measured in one run (bench/crypto.py)")
        print(
            f"Python {platform.python_version()}, Django {django.get_version()}, cryptography "
            f"{cryptography.__version__} ({backend.openssl_version_text()}), {os.cpu_count()} CPUs"
        )
        print(f"Database: {describe_database(address=True)}")
        keyring.cache_clear()
        tenant_id = uuid.uuid4()

        micro, micro_verdicts = run_micro(tenant_id, arguments.repeats)
        print()
        print(f"1. One {VALUE_BYTES}-byte value: us per operation; ratios of the best of {arguments.repeats} samples")
        warnings = print_table(micro, unit="us", scale=1e6, by_median=False)
        print("   field.* adds Context building, the keyring cache lookup and Sealed/Opened to the envelope")

        orm, orm_verdicts, inserted = run_orm(tenant_id, arguments.rows, arguments.repeats)
        print()
        print(
            f"2. ORM on {connection.vendor}: list(Model.objects.all()) of {arguments.rows} rows, then read"
            f" body/attachment/payload on each: ms per load; ratios of the median of {arguments.repeats} samples"
        )
        print(f"   {inserted}")
        warnings += print_table(orm, unit="ms", scale=1e3, by_median=True)
        extra = (orm[1].median - orm[0].median) / (arguments.rows * 3) * 1e6
        print(f"   extra per encrypted value read: {extra:.2f} us (median difference / {arguments.rows * 3} values)")
        if arguments.instructions:
            orm_verdicts.append(print_instructions(connection.settings_dict["NAME"], arguments.rows))
    finally:
        if connection.settings_dict["NAME"] != old_name:  # created, even if migrate failed afterwards
            connection.creation.destroy_test_db(old_name, verbosity=0, keepdb=False)
        teardown_test_environment()

    verdicts = [*micro_verdicts, *orm_verdicts]
    failed = [verdict for verdict in verdicts if not verdict.passed]
    print()
    print("Targets")
    for verdict in verdicts:
        print(f"   {verdict.label:<58} {verdict.ratio:>6.2f}x  {verdict.mark}")
    for warning in warnings:
        print(f"   NOISY: {warning}")
    print_outcome(len(verdicts), len(failed), strict=arguments.strict, started=started)
    return 1 if failed and arguments.strict else 0


if __name__ == "__main__":
    sys.exit(main())
