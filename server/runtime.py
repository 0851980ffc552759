"""Process-wide tuning applied once the service has started."""

from __future__ import annotations

import gc

__all__ = ["GC_GEN0_THRESHOLD", "tune_gc"]

GC_GEN0_THRESHOLD = 20_000


def tune_gc() -> None:
    """Objects alive after start-up (modules, schema, settings) are never garbage: freeze them out
    of the cyclic collector's scans, and collect the young generation every 20,000 allocations
    instead of 700 (an ingested batch of 500 events allocates ~10,000 objects). Collections hold
    the GIL, which ingestion's writer thread shares with the event loop: ~4% fewer instructions
    per ingested event (callgrind), fewer pauses."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_GEN0_THRESHOLD, *gc.get_threshold()[1:])
