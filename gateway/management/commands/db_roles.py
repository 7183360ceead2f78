from __future__ import annotations

from argparse import ArgumentParser, RawDescriptionHelpFormatter
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DEFAULT_DB_ALIAS, connections, transaction

from gateway.database_roles import db_roles_statements

DEPLOYMENT = """
Row-level security keeps each tenant's rows to that tenant even when a query forgets its filter
(docs/isolation.md). It binds only roles that are neither superuser nor BYPASSRLS, so in production:

  1. The owner (a role that owns the tables, e.g. gateway_owner) runs `migrate` and this command, with its
     own URL: DATABASE_URL=postgres://gateway_owner@db/gateway manage.py migrate && manage.py db_roles.
     Creating roles needs CREATEROLE; without it, hand the output of --print to whoever has it.
  2. The web, worker and beat processes log in as the application role (default gateway_app, setting
     GATEWAY_DB_APP_ROLE): DATABASE_URL=postgres://gateway_app@db/gateway. It owns nothing, bypasses no
     policy, may not TRUNCATE, and may only read and append to the audit log.
  3. Explicit operator jobs that need more (pruning the audit log) log in as the operator role (default
     gateway_operator, setting GATEWAY_DB_OPERATOR_ROLE), which may also delete audit events.

With --login the roles may log in; set their passwords yourself (ALTER ROLE ... PASSWORD): this command never
handles one. Running it again is harmless: it converges the roles, every policy and every privilege.
"""


class Command(BaseCommand):
    help = (
        "Create the application and operator database roles and (re)write row-level security and privileges "
        "(PostgreSQL only)."
    )

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        parser.formatter_class = RawDescriptionHelpFormatter
        parser.epilog = DEPLOYMENT
        return parser

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--print", action="store_true", help="print the SQL instead of running it")
        parser.add_argument("--login", action="store_true", help="let the roles log in (default: NOLOGIN)")
        parser.add_argument("--database", default=DEFAULT_DB_ALIAS, help="the database alias (default: default)")

    def handle(self, *args: Any, **options: Any) -> None:
        connection = connections[options["database"]]
        if connection.vendor != "postgresql":
            raise CommandError("row-level security and roles need PostgreSQL; this database is " + connection.vendor)
        statements = db_roles_statements(connection, login=options["login"])
        if options["print"]:
            self.stdout.write(";\n".join(statements) + ";")
            return
        with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement)
        self.stdout.write(f"{len(statements)} statements applied.")
