"""Process-wide tuning applied once the service has started."""

from __future__ import annotations

import gc
import sys

__all__ = ["GC_GEN0_THRESHOLD", "SWITCH_INTERVAL_S", "tune_gc"]

GC_GEN0_THRESHOLD = 20_000
SWITCH_INTERVAL_S = 0.001
"""How long a thread waiting for the interpreter waits before asking the running one to let go
(CPython's default is 5 ms). The event loop keeps the interpreter most of the time under load; each
answer a database thread hands back (a SQLite reader's rows, the PostgreSQL writer's next
statement) waited up to 5 ms for it, several times per request. `python -m bench load` (40 s, 2
workers, SQLite): p99 419-424 ms at 5 ms, 369 ms at 1 ms, with 8% more requests per second
(docs/performance.md)."""


def tune_gc() -> None:
    """Objects alive after start-up (modules, schema, settings) are never garbage: freeze them out
    of the cyclic collector's scans, and collect the young generation every 20,000 allocations
    instead of 700 (an ingested batch of 500 events allocates ~10,000 objects). Collections hold
    the GIL, which ingestion's writer thread shares with the event loop: ~4% fewer instructions
    per ingested event (callgrind), fewer pauses. Threads get the interpreter after 1 ms instead of
    5 (`SWITCH_INTERVAL_S`)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_GEN0_THRESHOLD, *gc.get_threshold()[1:])
    sys.setswitchinterval(SWITCH_INTERVAL_S)
