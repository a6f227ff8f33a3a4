"""Log lines as text and as JSON."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from lgserver.logs import ConnectionAdapter, configure


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    logger = logging.getLogger("lgserver")
    saved = (list(logger.handlers), logger.level, logger.propagate)
    yield
    logger.handlers[:] = saved[0]
    logger.setLevel(saved[1])
    logger.propagate = saved[2]


def test_json_lines_carry_the_extra_fields() -> None:
    stream = io.StringIO()
    configure(logging.INFO, "json", stream)
    log = ConnectionAdapter(logging.getLogger("lgserver.transport"), {"connection": 7})
    log.info("opened from %s", "127.0.0.1")
    logging.getLogger("lgserver.server").debug("not shown")
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        logging.getLogger("lgserver.server").exception("a bug")
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert lines[0]["message"] == "[7] opened from 127.0.0.1"
    assert lines[0]["connection"] == 7
    assert lines[0]["logger"] == "lgserver.transport"
    assert lines[0]["level"] == "info"
    assert lines[0]["time"].endswith("Z")
    assert (
        lines[1]["level"] == "error" and "RuntimeError: boom" in lines[1]["traceback"]
    )
    assert len(lines) == 2


def test_text_lines_and_a_bad_format() -> None:
    stream = io.StringIO()
    configure(logging.DEBUG, "text", stream)
    logging.getLogger("lgserver.store").debug("committed %d", 3)
    assert "DEBUG lgserver.store: committed 3" in stream.getvalue()
    with pytest.raises(ValueError):
        configure(logging.INFO, "xml")
