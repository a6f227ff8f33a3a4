"""Geolocation: the built-in database and MaxMind files made here, every
kind of address that cannot be located, the cache, and databases that
cannot be loaded."""

from __future__ import annotations

import asyncio
import logging
import threading
from pathlib import Path

import pytest
from mmdb_writer import MMDBWriter
from netaddr import IPSet

from lgserver.config import GeoSettings
from lgserver.geo import GeoError, Locator

# Addresses whose country has long been stable: public resolvers,
# universities, national registries.
PUBLIC = [
    ("8.8.8.8", "US"),
    ("81.2.69.142", "GB"),
    ("133.11.0.1", "JP"),
    ("200.160.2.3", "BR"),
    ("2001:4860:4860::8888", "US"),
    ("2a00:1450:4001::1", "DE"),
    ("2001:200::1", "JP"),
    ("::ffff:8.8.8.8", "US"),
]

NOWHERE = [
    "127.0.0.1",
    "10.1.2.3",
    "172.16.0.1",
    "192.168.1.1",
    "100.64.0.1",
    "169.254.1.1",
    "0.0.0.0",
    "255.255.255.255",
    "224.0.0.1",
    "192.0.2.1",
    "::1",
    "::",
    "fe80::1",
    "fc00::1",
    "2001:db8::1",
    "ff02::1",
    "::ffff:10.0.0.1",
]

JUNK: list[object] = [
    "",
    "junk",
    "1.2.3",  # a shorthand some parsers take for 1.2.0.3
    "8.8.8.8\n",
    " 8.8.8.8",
    "999.1.1.1",
    "8.8.8.8/32",
    "8.8.8.8:443",
    "[2001:4860:4860::8888]",
    "2001:4860:4860::8888%eth0",
    "8.8.8.8" + "0" * 10_000,
    "\x00",
    None,
    8,
    b"8.8.8.8",
]


@pytest.fixture(scope="module")
def builtin() -> Locator:
    return Locator()


@pytest.mark.parametrize(("address", "country"), PUBLIC)
async def test_public_addresses_have_their_country(
    builtin: Locator, address: str, country: str
) -> None:
    assert await builtin.country(address) == country
    assert builtin.source == "built-in"
    assert builtin.loaded


@pytest.mark.parametrize("address", NOWHERE)
async def test_private_and_reserved_addresses_are_nowhere(
    builtin: Locator, address: str
) -> None:
    assert await builtin.country(address) == ""


@pytest.mark.parametrize("junk", JUNK, ids=repr)
async def test_junk_is_nowhere(builtin: Locator, junk: object) -> None:
    assert await builtin.country(junk) == ""  # type: ignore[arg-type]


async def test_answers_are_cached_least_recently_used_first() -> None:
    locator = Locator(cache_size=2)
    assert await locator.country("8.8.8.8") == "US"
    assert await locator.country("8.8.8.8") == "US"
    info = locator.cache_info()
    assert (info.hits, info.misses, info.size, info.max_size) == (1, 1, 1, 2)

    # the same address written another way is the same entry
    assert await locator.country("::ffff:8.8.8.8") == "US"
    assert locator.cache_info().hits == 2

    await locator.country("81.2.69.142")
    await locator.country("8.8.8.8")  # now the most recently used
    await locator.country("133.11.0.1")  # pushes 81.2.69.142 out
    assert locator.cache_info().size == 2
    misses = locator.cache_info().misses
    assert await locator.country("8.8.8.8") == "US"
    assert locator.cache_info().misses == misses
    assert await locator.country("81.2.69.142") == "GB"
    assert locator.cache_info().misses == misses + 1

    # what cannot be located takes no room
    for address in ("10.0.0.1", "junk"):
        await locator.country(address)
    assert locator.cache_info().misses == misses + 1


async def test_no_cache_at_all() -> None:
    locator = Locator(cache_size=0)
    assert await locator.country("8.8.8.8") == "US"
    assert await locator.country("8.8.8.8") == "US"
    assert locator.cache_info() == locator.cache_info().__class__(0, 2, 0, 0)
    with pytest.raises(ValueError, match="cache_size"):
        Locator(cache_size=-1)


async def test_lookups_made_while_loading_wait_for_one_load() -> None:
    locator = Locator()
    found = await asyncio.gather(*(locator.country(a) for a, _ in PUBLIC))
    assert found == [country for _, country in PUBLIC]


async def test_the_database_loads_once_in_a_worker_thread(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    threads: list[threading.Thread] = []
    opener = Locator._open

    def spy(locator: Locator) -> object:
        threads.append(threading.current_thread())
        return opener(locator)

    monkeypatch.setattr(Locator, "_open", spy)
    locator = Locator()
    await asyncio.gather(locator.load(), locator.load(), locator.country("8.8.8.8"))
    await locator.load()
    assert len(threads) == 1
    assert threads[0] is not threading.current_thread()


async def test_a_disabled_locator_loads_nothing() -> None:
    locator = Locator.from_settings(GeoSettings(enabled=False))
    assert await locator.country("8.8.8.8") == ""
    await locator.load()
    assert not locator.loaded


async def test_a_closed_locator_answers_nothing() -> None:
    locator = Locator()
    assert await locator.country("8.8.8.8") == "US"
    locator.close()
    assert await locator.country("8.8.8.8") == ""
    assert not locator.loaded


# -- MaxMind DB files


def write_mmdb(path: Path, *, ip_version: int = 6) -> Path:
    """A small country database whose answers differ from the built-in
    one's, so that a test can tell which database answered."""
    writer = MMDBWriter(
        ip_version=ip_version,
        database_type="Test-Country",
        languages=["en"],
        description="lgserver tests",
        ipv4_compatible=ip_version == 6,
    )
    entries: list[tuple[str, object]] = [
        ("8.8.8.0/24", {"country": {"iso_code": "CH", "names": {"en": "x"}}}),
        ("81.2.69.0/24", {"registered_country": {"iso_code": "IS"}}),
        ("1.1.1.0/24", {"country": "NZ"}),  # ipinfo's plain records
        ("5.5.5.0/24", {"country": {"iso_code": "usa"}}),
        ("6.6.6.0/24", {"city": {"names": {"en": "Nowhere"}}}),
        ("7.7.7.0/24", {"country": {"iso_code": 7}}),
        ("9.9.9.0/24", ["not", "a", "map"]),
    ]
    if ip_version == 6:
        entries.append(("2001:4860::/32", {"country": {"iso_code": "FI"}}))
    for network, record in entries:
        writer.insert_network(IPSet([network]), record)  # type: ignore[arg-type]
    writer.to_db_file(str(path))
    return path


@pytest.mark.parametrize(
    ("address", "country"),
    [
        ("8.8.8.8", "CH"),
        ("81.2.69.142", "IS"),
        ("1.1.1.1", "NZ"),
        ("2001:4860:4860::8888", "FI"),
        ("::ffff:8.8.8.1", "CH"),
        ("5.5.5.5", ""),
        ("6.6.6.6", ""),
        ("7.7.7.7", ""),
        ("9.9.9.9", ""),
        ("133.11.0.1", ""),  # not in the file
        ("10.0.0.1", ""),
        ("junk", ""),
    ],
)
async def test_a_maxmind_file_answers(
    tmp_path: Path, address: str, country: str
) -> None:
    path = write_mmdb(tmp_path / "countries.mmdb")
    locator = Locator.from_settings(GeoSettings(database=path))
    assert locator.source == str(path)
    assert await locator.country(address) == country
    locator.close()


async def test_ipv6_in_an_ipv4_file_is_nowhere(tmp_path: Path) -> None:
    locator = Locator(write_mmdb(tmp_path / "v4.mmdb", ip_version=4))
    assert await locator.country("8.8.8.8") == "CH"
    assert await locator.country("2001:4860:4860::8888") == ""
    locator.close()


def unusable(folder: Path, kind: str) -> Path:
    """A database path that cannot be used, of the given kind."""
    path = folder / f"{kind}.mmdb"
    if kind == "directory":
        path.mkdir()
    elif kind == "junk":
        path.write_bytes(b"\xab" * 4096)
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "truncated":
        whole = write_mmdb(folder / "whole.mmdb").read_bytes()
        path.write_bytes(whole[:100])
    return path


@pytest.mark.parametrize(
    ("kind", "why"),
    [
        ("missing", "no such file"),
        ("directory", "a directory, not a file"),
        ("junk", "not a MaxMind DB file"),
        ("empty", "not a MaxMind DB file"),
        ("truncated", "not a MaxMind DB file"),
    ],
)
async def test_a_file_that_cannot_be_used_says_why_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, kind: str, why: str
) -> None:
    path = unusable(tmp_path, kind)
    locator = Locator(path)
    with caplog.at_level(logging.WARNING, "lgserver.geo"):
        with pytest.raises(GeoError) as caught:
            await locator.load()
        assert str(caught.value) == f"geo.database {str(path)!r}: {why}"
        # lookups go on, answering nothing, and the problem is not repeated
        assert await locator.country("8.8.8.8") == ""
        with pytest.raises(GeoError):
            await locator.load()
    warnings = [r.getMessage() for r in caplog.records if r.name == "lgserver.geo"]
    assert warnings == [f"geolocation is off: {caught.value}"]
    assert not locator.loaded


async def test_a_file_of_something_else_is_used_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    writer = MMDBWriter(ip_version=4, database_type="GeoLite2-ASN")
    writer.insert_network(IPSet(["8.8.8.0/24"]), {"autonomous_system_number": 15169})
    path = tmp_path / "asn.mmdb"
    writer.to_db_file(str(path))
    locator = Locator(path)
    with caplog.at_level(logging.WARNING, "lgserver.geo"):
        assert await locator.country("8.8.8.8") == ""
    assert "may say nothing of countries" in caplog.text
    assert locator.loaded
    locator.close()
