"""`python -m bench [ingest|queries|reports|load] [options]`: run one benchmark, or all of them in sequence.

With no arguments (`make bench`) every benchmark runs on SQLite, then `ingest`, `queries`, `reports`
and `load` again with `--db postgres` (PostgreSQL at `BENCH_PG_URL`: the PostgreSQL columns of
docs/performance.md, each beside SQLite or against its own baseline).

Options after the benchmark's name go to it (`python -m bench ingest --events 50000`); see
`python -m bench <name> --help`. Each benchmark's `main(argv)` returns its exit status: 0 when
every check passed, 1 when any is a FAIL. The exit status here is 1 when any benchmark failed,
crashed or exited non-zero (so `make bench` fails when a target is missed).
"""

from __future__ import annotations

import importlib
import sys
import time
import traceback

BENCHMARKS: dict[str, str] = {
    "ingest": "bench.ingest_bench",
    "queries": "bench.query_bench",
    "reports": "bench.reports_bench",
    "load": "bench.load_bench",
}


def full_run() -> list[tuple[str, list[str]]]:
    """What `python -m bench` alone runs: each benchmark on SQLite, then each on PostgreSQL."""
    return [*((name, []) for name in BENCHMARKS), *((name, ["--db", "postgres"]) for name in BENCHMARKS)]


def run(name: str, args: list[str]) -> bool:
    """Run one benchmark; True only when it returned (or exited with) status 0."""
    label = " ".join([name, *args])
    t0 = time.perf_counter()
    try:
        code = importlib.import_module(BENCHMARKS[name]).main(args)
    except SystemExit as exc:  # argparse: --help (0), a bad option (2)
        code = 0 if exc.code is None else exc.code
    except Exception:
        traceback.print_exc()
        print(f"== {label}: crashed\n")
        return False
    elapsed = time.perf_counter() - t0
    if code != 0:  # a main() that returns no status is not a pass either
        print(f"== {label}: FAIL (exit status {code}) after {elapsed:.0f} s\n")
        return False
    print(f"== {label}: PASS in {elapsed:.0f} s\n")
    return True


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
    failed = [" ".join([name, *args]) for name, args in full_run() if not run(name, args)]
    if failed:
        print(f"== benchmarks that failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
