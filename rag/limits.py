"""Rate limits: token buckets of `rate` requests a minute per key (a user, a key, an address), bursts up to
`rate`. `take(key)` returns 0 when the request may go on, else the seconds to wait (for Retry-After).

- `Limiter`: the buckets in this process (the default: one `rag serve` per data dir, SQLite state).
- `SharedLimiter`: one bucket row per key in the state database, so N replicas sharing RAG_DATABASE_URL
  allow the rate once, not N times. The decision is one atomic INSERT ... ON CONFLICT DO UPDATE ... WHERE
  on the row (the database serialises concurrent takes of one key), timed by the database's clock so
  replicas on hosts whose clocks differ agree. One round trip per question.

`limiter(settings)` picks: shared when RAG_DATABASE_URL is set. With SQLite the state file is local to one
host's data dir, where one server runs, so sharing would only add a write lock per question."""
from __future__ import annotations

import threading
import time

from .db import connect

# the database's clock, in seconds since the epoch, per dialect
CLOCK = {"postgresql": "EXTRACT(EPOCH FROM clock_timestamp())", "sqlite": "(julianday('now') - 2440587.5) * 86400.0"}
FORGET_S = 60   # a bucket untouched a minute is full again, the same as no row: its row is deleted


class Limiter:
    """Token buckets in this process. The clock is passed in, so tests need no sleeping."""

    def __init__(self, rate: int, clock=time.monotonic):
        self.rate, self.clock, self._buckets, self._lock = rate, clock, {}, threading.Lock()

    def take(self, key: str) -> float:
        if self.rate <= 0:
            return 0.0
        now = self.clock()
        with self._lock:
            tokens, last = self._buckets.get(key, (float(self.rate), now))
            tokens = min(float(self.rate), tokens + (now - last) * self.rate / 60)
            if tokens >= 1:
                self._buckets[key] = (tokens - 1, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            if len(self._buckets) > 100_000:  # forget the oldest callers rather than grow without bound
                for k in list(self._buckets)[:50_000]:
                    del self._buckets[k]
            return (1 - tokens) * 60 / self.rate


class SharedLimiter:
    """Token buckets in the state database's `rate_limits` table (name: the key, tokens, updated: the database clock's
    seconds when `tokens` was last set). `clock` (seconds) replaces the database's clock in tests."""

    def __init__(self, rate: int, where, clock=None):
        self.rate, self.db, self.clock = rate, connect(where), clock
        self._swept = 0.0

    def _now(self) -> str:
        return ":now" if self.clock else CLOCK[self.db.dialect]

    def take(self, key: str) -> float:
        if self.rate <= 0:
            return 0.0
        params = {"name": key, "rate": float(self.rate), "per_s": self.rate / 60}
        if self.clock:
            params["now"] = float(self.clock())
        # the bucket refilled since its last take, at most full; `excluded.updated` is this statement's clock
        fill = ("CASE WHEN rate_limits.tokens + (excluded.updated - rate_limits.updated) * :per_s > :rate THEN :rate "
                "ELSE rate_limits.tokens + (excluded.updated - rate_limits.updated) * :per_s END")
        taken = self.db.rows(f"INSERT INTO rate_limits (name, tokens, updated) VALUES (:name, :rate - 1, {self._now()}) "
                             f"ON CONFLICT (name) DO UPDATE SET tokens = {fill} - 1, updated = excluded.updated "
                             f"WHERE {fill} >= 1 RETURNING tokens", **params)
        self._sweep(params)
        if taken:
            return 0.0
        # refused (the row is left as it was): how long until one token has refilled
        row = self.db.one(f"SELECT tokens + ({self._now()} - updated) * :per_s AS tokens FROM rate_limits "
                          "WHERE name = :name", **params)
        return max((1 - (row["tokens"] if row else 0.0)) / params["per_s"], 0.01)

    def _sweep(self, params: dict) -> None:
        """At most once a minute per process: delete the rows of buckets that are full again."""
        if time.monotonic() - self._swept < FORGET_S:
            return
        self._swept = time.monotonic()
        self.db.execute(f"DELETE FROM rate_limits WHERE updated < {self._now()} - {FORGET_S}", **params)


def limiter(settings) -> Limiter | SharedLimiter:
    """Shared through the state database when RAG_DATABASE_URL is set, else in this process."""
    if settings.database_url:
        return SharedLimiter(settings.rate_limit, settings)
    return Limiter(settings.rate_limit)
