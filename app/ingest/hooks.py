"""The seam tests and benchmarks use to watch the ingestion writer (and, in tests, hold it up or
make a group fail) instead of patching private names.

Subclass `IngestHooks`, override the methods you need (each is a no-op here) and install an
instance for the whole process::

    class Sizes(IngestHooks):
        def __init__(self) -> None:
            self.sizes: list[int] = []

        def group_started(self, batches: int) -> None:
            self.sizes.append(batches)

    previous = install_hooks(sizes := Sizes())
    try:
        ...  # ingest
    finally:
        install_hooks(previous)

With none installed (the default, and always in production) ingestion makes no calls and takes
no timings. The writer reads the installed hooks once per group: install them before the batches
they should see are sent.
"""

from __future__ import annotations

import sqlite3

__all__ = ["IngestHooks", "install_hooks", "installed_hooks"]


class IngestHooks:
    """Callbacks at the steps of ingestion. A "group" is the batches the writer applies in one
    transaction; when that transaction fails each of its batches is retried in a group of its own,
    and each retry is a group for these callbacks too."""

    def batch_parsed(self, events: int, seconds: float) -> None:
        """A batch of `events` events passed validation, which took `seconds` (on the event loop)."""

    def batch_queued(self, events: int) -> None:
        """A batch (its `events` distinct events) joined the writer's queue (on the event loop)."""

    def group_started(self, batches: int) -> None:
        """A group of `batches` batches is about to be applied. Called off the event loop, on the
        writer's thread (SQLite: ingestion's connection's; PostgreSQL: `PostgresWriter`'s), so it
        may block to hold the writer up while the event loop goes on queueing batches. Should it
        raise, the group fails as if its transaction had."""

    def group_locked(self, keys: int, seconds: float) -> None:
        """PostgreSQL only, on the writer's thread: the group's transaction took its `keys` advisory
        locks (one per conversation and user it touches), which took `seconds` (mostly waiting for
        other processes' groups that hold some of them)."""

    def group_written(self, event_ids: list[str]) -> None:
        """Inside the group's transaction, after its last statement: the ids of the events it
        stores (called only when it stores some; on the writer's thread). Should it raise, the
        transaction is rolled back like on a database error (and the group's batches are retried
        alone)."""

    def group_ended(self, batches: int) -> None:
        """The group `group_started` announced has committed or rolled back (before any retry of
        its batches); on the writer's thread."""

    def sqlite_connection(self, db: sqlite3.Connection) -> sqlite3.Connection:
        """The connection a group's transaction runs on, `BEGIN` to `COMMIT` (SQLite only, on the
        writer's thread): return a stand-in to observe its statements (the same methods and
        `in_transaction`)."""
        return db


_installed: IngestHooks | None = None


def install_hooks(hooks: IngestHooks | None) -> IngestHooks | None:
    """Watch ingestion in this process with `hooks` from now on (None: stop watching); returns the
    hooks installed before, to put back."""
    global _installed
    previous, _installed = _installed, hooks
    return previous


def installed_hooks() -> IngestHooks | None:
    """The hooks installed now (None: none)."""
    return _installed
