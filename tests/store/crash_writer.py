"""Append messages to a store until killed.

Run as ``python crash_writer.py DATABASE ROUND``. Several tasks append
concurrently, so their messages share commits; each prints
``<id> <client_msg_id>`` on a line of its own only once append_message has
returned, that is once the message is acknowledged.
"""

from __future__ import annotations

import asyncio
import sys

from lgserver.store import MessageRecord, SqliteStore

WRITERS = 8


async def _write(store: SqliteStore, label: str) -> None:
    count = 0
    while True:
        count += 1
        client_msg_id = f"{label}-{count}"
        result = await store.append_message(
            "crash", f"sender-{label}", client_msg_id, client_msg_id.encode()
        )
        assert isinstance(result, MessageRecord)
        sys.stdout.write(f"{result.id} {client_msg_id}\n")
        sys.stdout.flush()


async def _main(path: str, round_label: str) -> None:
    store = await SqliteStore.open(path)
    await asyncio.gather(*(_write(store, f"{round_label}.{n}") for n in range(WRITERS)))


if __name__ == "__main__":
    asyncio.run(_main(sys.argv[1], sys.argv[2]))
