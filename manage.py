#!/usr/bin/env python
import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gateway.settings")
    from django.core.management import execute_from_command_line

    from core.tenancy import ALL_TENANTS, process_scope_default

    if sys.argv[1:2] != ["runserver"]:  # a command is an operator job; runserver serves requests (docs/isolation.md)
        process_scope_default(ALL_TENANTS)
    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
