"""The country of a customer's address, for the operators' view of a call.

:class:`Locator` answers :meth:`Locator.country` with an ISO 3166-1
alpha-2 code (``"US"``) from one of two offline databases; nothing is
asked of any service on the network:

* the one built in: geoip2fast's table of countries (MaxMind GeoLite2
  data, IPv4 and IPv6), shipped inside the geoip2fast package;
* a MaxMind DB file (``.mmdb``) of countries or cities named by
  ``geo.database``, such as GeoLite2-Country or DB-IP's Country Lite,
  read with maxminddb. Records that hold ``country.iso_code`` (MaxMind,
  DB-IP), ``registered_country.iso_code`` or a plain ``country`` code
  (ipinfo) are understood.

Loading. The built-in table is a gzipped pickle read whole into memory:
on a 2-core machine it takes about 0.15 s and adds about 60 MiB to the
process's resident memory; a lookup then takes a few microseconds. So it
is loaded once per process (geoip2fast keeps it in module globals, shared
by every :class:`Locator`), on first use or when the daemon starts, in a
worker thread (:func:`asyncio.to_thread`) while the event loop goes on
serving. It is always read from the package's own folder by its full
path, never from a configured or the current directory, since unpickling
a file runs whatever it holds. A MaxMind file is memory-mapped: opening
it is quick and its pages are read as lookups touch them.

Answers. A lookup never raises: a malformed address, a private,
loopback, link-local, documentation or otherwise non-global one, and one
the database does not know are all ``""``. An IPv4 address written as
IPv4-mapped IPv6 (``::ffff:8.8.8.8``) is looked up as IPv4. The last
``cache_size`` answers are kept, least recently used dropped first.

A database that cannot be loaded (a missing or corrupt MaxMind file)
raises :class:`GeoError` from :meth:`Locator.load`, is logged once as a
WARNING, and leaves every answer ``""`` until lgserver is restarted.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from .config import GeoSettings

__all__ = ["CacheInfo", "GeoError", "Locator"]

logger = logging.getLogger("lgserver.geo")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

#: The built-in table with both IPv4 and IPv6 networks.
BUILTIN_FILE = "geoip2fast-ipv6.dat.gz"
# The longest text an IPv6 address can take, with an IPv4 tail.
_MAX_ADDRESS = 45
_CODE = re.compile(r"[A-Z]{2}")


class GeoError(Exception):
    """The database cannot be used; the text says which and why."""


@dataclass(frozen=True, slots=True)
class CacheInfo:
    """How the cache of answers has done.

    Attributes:
        hits: Answers found in the cache.
        misses: Answers the database was asked for.
        size: Answers held now.
        max_size: Answers held at most.
    """

    hits: int
    misses: int
    size: int
    max_size: int


class _Database(Protocol):
    def country(self, address: IPAddress) -> str: ...

    def close(self) -> None: ...


def _code(value: object) -> str:
    return value if isinstance(value, str) and _CODE.fullmatch(value) else ""


# -- the built-in table

_builtin_lock = threading.Lock()
_builtin: Any = None


class _Builtin:
    """geoip2fast's table, loaded once per process."""

    def __init__(self) -> None:
        global _builtin  # noqa: PLW0603 - the library's table is per process
        with _builtin_lock:
            if _builtin is None:
                _builtin = self._load()
        self._table = _builtin

    @staticmethod
    def _load() -> Any:
        try:
            import geoip2fast

            path = Path(geoip2fast.__file__).parent / BUILTIN_FILE
            return geoip2fast.GeoIP2Fast(geoip2fast_data_file=str(path))
        except Exception as exc:  # the library raises plain exceptions too
            raise GeoError(f"the built-in database cannot be loaded: {exc}") from exc

    def country(self, address: IPAddress) -> str:
        try:
            return _code(self._table.lookup(str(address)).country_code)
        except Exception:  # a lookup must never end a caller's work
            return ""

    def close(self) -> None:
        pass  # the table stays for the process's other locators


# -- a MaxMind DB file


class _MaxMind:
    """A MaxMind DB file of countries or cities, memory-mapped."""

    def __init__(self, path: Path) -> None:
        import maxminddb

        where = f"geo.database {str(path)!r}"
        if path.is_dir():
            raise GeoError(f"{where}: a directory, not a file")
        try:
            self._reader = maxminddb.open_database(str(path))
        except FileNotFoundError:
            raise GeoError(f"{where}: no such file") from None
        except PermissionError:
            raise GeoError(f"{where}: permission denied") from None
        except (maxminddb.InvalidDatabaseError, ValueError, OSError):
            raise GeoError(f"{where}: not a MaxMind DB file") from None
        kind = str(self._reader.metadata().database_type)
        if not any(word in kind.lower() for word in ("country", "city")):
            logger.warning(
                "%s holds %r, which may say nothing of countries", where, kind
            )

    def country(self, address: IPAddress) -> str:
        try:
            record = self._reader.get(address)
        except Exception:  # an IPv6 address in an IPv4 file, a bad record
            return ""
        if not isinstance(record, dict):
            return ""
        for key in ("country", "registered_country"):
            found = record.get(key)
            if isinstance(found, dict):
                found = found.get("iso_code")
            if code := _code(found):
                return code
        return ""

    def close(self) -> None:
        self._reader.close()


# -- the locator


class Locator:
    """Looks up the country of client addresses.

    Args:
        database: A MaxMind DB file, or None for the built-in database.
        enabled: False answers ``""`` to every lookup and loads nothing.
        cache_size: Answers kept, least recently used dropped first.
    """

    def __init__(
        self,
        database: Path | None = None,
        *,
        enabled: bool = True,
        cache_size: int = 4096,
    ) -> None:
        if cache_size < 0:
            raise ValueError("cache_size must be 0 or more")
        self.database = database
        self.enabled = enabled
        self._cache_size = cache_size
        self._cache: OrderedDict[IPAddress, str] = OrderedDict()
        self._hits = 0
        self._misses = 0
        self._db: _Database | None = None
        self._error: GeoError | None = None
        self._lock = asyncio.Lock()

    @classmethod
    def from_settings(cls, settings: GeoSettings) -> Locator:
        """A locator as the ``[geo]`` section says."""
        return cls(settings.database, enabled=settings.enabled)

    @property
    def source(self) -> str:
        """Which database answers: ``built-in`` or the file's path."""
        return "built-in" if self.database is None else str(self.database)

    @property
    def loaded(self) -> bool:
        """Whether the database is loaded and answering."""
        return self._db is not None

    async def load(self) -> None:
        """Load the database in a worker thread, once; later calls, and
        calls made meanwhile, wait for that one load.

        Raises:
            GeoError: The database cannot be used. Every later call raises
                it again; lookups answer ``""``.
        """
        if not self.enabled or self._db is not None:
            return
        async with self._lock:
            if self._db is None and self._error is None:
                try:
                    self._db = await asyncio.to_thread(self._open)
                except GeoError as exc:
                    self._error = exc
                    logger.warning("geolocation is off: %s", exc)
                else:
                    logger.info("geolocation from the %s database", self.source)
        if self._error is not None:
            raise self._error

    def _open(self) -> _Database:
        if self.database is None:
            return _Builtin()
        return _MaxMind(self.database)

    async def country(self, address: str) -> str:
        """The ISO 3166-1 alpha-2 code of the country ``address`` is in.

        The first call loads the database (see :meth:`load`).

        Args:
            address: An IPv4 or IPv6 address, as text.

        Returns:
            The code, such as ``"US"``, or ``""`` when the address is
            malformed, not a global one, unknown to the database, or when
            geolocation is off or its database failed to load.
        """
        ip = _global_address(address)
        if ip is None or not self.enabled:
            return ""
        cached = self._cache.get(ip)
        if cached is not None:
            self._hits += 1
            self._cache.move_to_end(ip)
            return cached
        if self._db is None:
            try:
                await self.load()
            except GeoError:
                return ""
        assert self._db is not None
        self._misses += 1
        code = self._db.country(ip)
        if self._cache_size:
            self._cache[ip] = code
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return code

    def cache_info(self) -> CacheInfo:
        """How the cache of answers has done so far."""
        return CacheInfo(self._hits, self._misses, len(self._cache), self._cache_size)

    def close(self) -> None:
        """Let go of the database file; lookups answer ``""`` after."""
        db, self._db = self._db, None
        self.enabled = False
        self._cache.clear()
        if db is not None:
            db.close()


def _global_address(text: object) -> IPAddress | None:
    """``text`` as an address that can be located, or None."""
    if not isinstance(text, str) or len(text) > _MAX_ADDRESS:
        return None
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.scope_id is not None:
            return None  # a scope belongs to a link, never to a customer
        if ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
    return ip if ip.is_global and not ip.is_multicast else None
