"""`python -m bench [ingest|queries|reports] [options]`: run one benchmark, or all of them in sequence.

Options after the benchmark's name go to it (`python -m bench ingest --events 50000`); see
`python -m bench <name> --help`.
"""

from __future__ import annotations

import importlib
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any

BENCHMARKS: dict[str, str] = {
    "ingest": "bench.ingest_bench",
    "queries": "bench.query_bench",
    "reports": "bench.reports_bench",
}


def _load(name: str) -> Callable[..., Any] | None:
    module_name = BENCHMARKS[name]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name:
            return None
        raise
    entry = getattr(module, "main", None)
    return entry if callable(entry) else None


def run(name: str, args: list[str]) -> bool:
    entry = _load(name)
    if entry is None:
        print(f"== {name}: skipped ({BENCHMARKS[name].replace('.', '/')}.py has no main() yet)\n")
        return True
    t0 = time.perf_counter()
    try:
        entry(args) if name != "reports" else _call_reports(entry, args)
    except SystemExit as exc:
        if exc.code not in (0, None):
            print(f"== {name}: exited with {exc.code}")
            return False
    except Exception:
        traceback.print_exc()
        print(f"== {name}: crashed")
        return False
    print(f"== {name}: done in {time.perf_counter() - t0:.0f} s\n")
    return True


def _call_reports(entry: Callable[..., Any], args: list[str]) -> Any:
    """reports_bench.main() is another engineer's: sync or async; argv only if it takes `argv`."""
    import asyncio
    import inspect

    try:
        takes_argv = "argv" in inspect.signature(entry).parameters
    except (TypeError, ValueError):
        takes_argv = False
    if args and not takes_argv:
        print(f"  (reports_bench.main() takes no command line: ignoring {' '.join(args)})")
    result = entry(args) if takes_argv else entry()
    if inspect.iscoroutine(result):
        result = asyncio.run(result)
    return result


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0
    if argv and argv[0] in BENCHMARKS:
        return 0 if run(argv[0], argv[1:]) else 1
    if argv:
        print(f"unknown benchmark {argv[0]!r}: choose from {', '.join(BENCHMARKS)}", file=sys.stderr)
        return 2
    ok = True
    for name in BENCHMARKS:
        ok = run(name, []) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
