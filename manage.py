#!/usr/bin/env python
import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "echostream.settings")
    from django.core.management import execute_from_command_line

    from echostream import logs

    # Before Django sets up: even the first lines a command logs name it (or its role).
    logs.start_command(sys.argv)
    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
