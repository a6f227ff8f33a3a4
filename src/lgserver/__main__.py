"""The ``lgserver`` command: ``python -m lgserver`` and the console script."""

from __future__ import annotations

import sys

from . import commands as _commands  # noqa: F401  (adds serve, init, user)
from .cli import cli


def main(argv: list[str] | None = None) -> int:
    """Run the ``lgserver`` command line and return its exit status.

    Args:
        argv: The arguments after the program name; the process's own by
            default.
    """
    try:
        cli.main(args=argv, prog_name="lgserver")
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            return exc.code or 0
        sys.stderr.write(f"{exc.code}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
