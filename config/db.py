"""psycopg's optimised loader for ``timestamptz`` values, on PostgreSQL connections in UTC.

Django registers on each connection a loader derived from psycopg's pure-Python one, to stamp the
values with the connection's time zone (Django ticket #36960), so every date read is parsed in
Python, a few microseconds each: 0.2–0.7 ms of a referral queue request.  When the connection's
time zone is UTC (``USE_TZ`` without a database ``TIME_ZONE``, as configured here) the optimised
loader gives the same aware datetimes, so it is put back in place.
"""

import datetime
import functools


def use_optimised_timestamptz_loader(sender, connection, **kwargs) -> None:
    """A ``connection_created`` receiver; leaves other databases and time zones to Django."""
    if connection.vendor != "postgresql" or connection.timezone != datetime.UTC:
        return
    import psycopg

    oid = psycopg.postgres.types["timestamptz"].oid
    optimised = psycopg.adapters.get_loader(oid, psycopg.pq.Format.TEXT)
    if optimised is None or optimised.__module__.startswith("psycopg."):
        return  # psycopg without its C extension: Django's loader is as fast
    connection.connection.adapters.register_loader(oid, _utc_loader(optimised))


@functools.cache
def _utc_loader(optimised: type) -> type:
    from psycopg.adapt import Loader

    class UtcTimestamptzLoader(Loader):
        """psycopg's optimised loader, carrying the ``timezone`` Django's cursors check against theirs."""

        timezone = datetime.UTC

        def __init__(self, oid, context=None):
            super().__init__(oid, context)
            self._optimised = optimised(oid, context)
            # The optimised loader's own bound method: psycopg calls it with no Python frame between.
            self.load = self._optimised.load

        def load(self, data):
            return self._optimised.load(data)

    return UtcTimestamptzLoader
