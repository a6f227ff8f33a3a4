"""The ``lgserver`` command."""

from __future__ import annotations

import sys

from . import __version__
from .protocol.messages import PROTOCOL_VERSION


def main(argv: list[str] | None = None) -> int:
    """Report the version of lgserver and of the protocol it speaks."""
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] not in ("--version", "version"):
        sys.stderr.write(f"lgserver: unknown command {args[0]!r}\n")
        return 2
    sys.stdout.write(f"lgserver {__version__}, protocol version {PROTOCOL_VERSION}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
