"""Reports benchmark (issue 4): a 90-day `full` PDF end to end, and `/usage` latency while PDFs render.

    .venv/bin/python -m bench.reports_bench [--per-day 150] [--runs 5] [--requests 200] [--sample-png PATH]
                                            [--db postgres]

1. Loads 90 days of demo data (`app.demo.demo_events`, `per_day` conversations a day, through
   `app.ingest.ingest_events`) into a SQLite file under bench/out/ (reused for 12 hours).
2. Starts the service as a uvicorn subprocess on a free 127.0.0.1 port (its own render pool).
3. Times `POST /reports {"type": "full", "format": "pdf", "days": 90}` until the report is
   `completed` (polling every 10 ms), `runs` times: p50 (target <= 1.5 s).
4. Measures `GET /usage?days=90` p99 over HTTP with the service idle, then while four such PDFs
   render: the ratio (target <= 2). A "busy" sample is one whose request started and ended while a
   report was certainly `running` (one `GET /reports` every 50 ms tracks the four reports: from the
   first answer that says `running` to the request of the last). Samples taken before the first
   render starts, between renders or after the last one are dropped (their number is printed),
   never counted as busy; more rounds of four PDFs are rendered until at least `--min-busy` busy
   samples are in.
Prints a small table; with `--sample-png` writes page one of a PDF with `pdftoppm -png -r 60`.
Exit status 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bench import common

__all__ = ["main", "measure"]

REPO = Path(__file__).resolve().parent.parent
SECRET = "reports-bench-secret-" + "x" * 40
REPORTS = "/api/v1/analytics/reports"
MAX_DB_AGE_SECONDS = 12 * 3600
MAX_BUSY_ROUNDS = 5


async def load_dataset(per_day: int, database_url: str | None = None) -> tuple[Path, int]:
    """A SQLite file with 90 days of demo data (built once, then reused while fresh); with
    `database_url` (a fresh PostgreSQL database), the same data ingested there instead."""
    from app.auth import Principal
    from app.db import close_db, connection, init_db
    from app.demo import demo_events
    from app.ingest import ingest_events

    common.OUT_DIR.mkdir(parents=True, exist_ok=True)
    path = common.OUT_DIR / f"reports-demo-d90-p{per_day}-{_schema_key()}.sqlite3"
    if database_url is not None:
        await init_db(database_url)
    elif path.exists() and time.time() - path.stat().st_mtime < MAX_DB_AGE_SECONDS:
        await init_db(f"sqlite://{path}")
        _, rows = await connection().execute_query("SELECT COUNT(*) AS n FROM events")
        await close_db()
        return path, int(rows[0]["n"])
    else:
        common.remove_sqlite(path)
        await init_db(f"sqlite://{path}")
    admin = Principal(subject="bench", roles=frozenset({"admin"}))
    now = datetime.now(UTC)
    batch: list[dict[str, Any]] = []
    total = 0
    for event in demo_events(now=now, days=90, per_day=per_day, users=max(400, per_day * 5)):
        batch.append(event)
        if len(batch) == 1000:
            total += (await ingest_events(batch, admin, now=now)).accepted
            batch = []
    if batch:
        total += (await ingest_events(batch, admin, now=now)).accepted
    await close_db()
    return path, total


def _schema_key() -> str:
    """A short hash of what decides the stored rows (models, migrations, ingestion): a cached data
    set built by other code is not reused."""
    digest = hashlib.sha256()
    for source in sorted(
        [
            *(REPO / "app" / "migrations").glob("*.py"),
            REPO / "app" / "models" / "__init__.py",
            *(REPO / "app" / "ingest").glob("*.py"),
        ]
    ):
        digest.update(source.read_bytes())
    return digest.hexdigest()[:10]


def _start(cmd: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(cmd, cwd=REPO, env=env)


class Server:
    """The service in a uvicorn subprocess, against a copy of the data set."""

    def __init__(self, db_path: Path, workdir: Path, database_url: str | None = None) -> None:
        self.port = common.free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        if database_url is None:
            db_copy = workdir / "analytics.sqlite3"
            shutil.copyfile(db_path, db_copy)
            database_url = f"sqlite://{db_copy}"
        self.env = {
            **os.environ,
            "ANALYTICS_ENV": "test",
            "ANALYTICS_JWT_SECRET": SECRET,
            "ANALYTICS_DATABASE_URL": database_url,
            "ANALYTICS_REPORTS_DIR": str(workdir / "reports"),
            "ANALYTICS_LOG_LEVEL": "WARNING",
            # Every /usage request computes its answer, idle and busy alike: with the query cache
            # on, the idle run would be all cache hits and the busy run would include recomputes.
            "ANALYTICS_QUERY_CACHE_SECONDS": "0",
        }
        self.proc: subprocess.Popen[bytes] | None = None

    async def __aenter__(self) -> Server:
        cmd = [sys.executable, "-m", "uvicorn", "server.app:create_app", "--factory"]
        cmd += ["--host", "127.0.0.1", "--port", str(self.port), "--log-level", "warning"]
        self.proc = _start(cmd, self.env)
        async with httpx.AsyncClient(base_url=self.base) as client, asyncio.timeout(60):
            while True:
                try:
                    if (await client.get("/health")).status_code == 200:
                        return self
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)

    async def __aexit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def _headers() -> dict[str, str]:
    from app.auth import mint_token
    from app.config import Settings

    return {"Authorization": "Bearer " + mint_token(Settings(jwt_secret=SECRET), ["admin"], ttl_minutes=120)}


async def _create(client: httpx.AsyncClient, headers: dict[str, str], fmt: str = "pdf") -> str:
    r = await client.post(REPORTS, json={"type": "full", "format": fmt, "days": 90}, headers=headers)
    r.raise_for_status()
    return str(r.json()["id"])


async def _wait(
    client: httpx.AsyncClient, headers: dict[str, str], report_id: str, poll: float
) -> dict[str, Any]:
    while True:
        body: dict[str, Any] = (await client.get(f"{REPORTS}/{report_id}", headers=headers)).json()
        if body["status"] == "completed":
            return body
        if body["status"] == "failed":
            raise RuntimeError(f"report failed: {body['error']}")
        await asyncio.sleep(poll)


async def _pdf(
    client: httpx.AsyncClient, headers: dict[str, str], fmt: str = "pdf"
) -> tuple[float, dict[str, Any]]:
    """Seconds from POST to `completed` for a 90-day full report (PDF unless told), polling every 10 ms."""
    started = time.perf_counter()
    body = await _wait(client, headers, await _create(client, headers, fmt), 0.01)
    return time.perf_counter() - started, body


@dataclass(frozen=True)
class Sample:
    """One /usage request: wall-clock start and end (time.time()), and its latency in seconds."""

    start: float
    end: float
    seconds: float


async def _usage_latencies(client: httpx.AsyncClient, headers: dict[str, str], n: int) -> list[Sample]:
    out = []
    for _ in range(n):
        wall, started = time.time(), time.perf_counter()
        r = await client.get("/api/v1/analytics/usage?days=90", headers=headers)
        out.append(Sample(wall, time.time(), time.perf_counter() - started))
        r.raise_for_status()
    return out


async def render_windows(
    client: httpx.AsyncClient, headers: dict[str, str], report_ids: list[str], poll: float
) -> list[tuple[float, float]]:
    """Poll `GET /reports` every `poll` seconds until every report of `report_ids` is completed; for
    each, a window (epoch seconds) in which it was certainly `running` (a status only moves
    pending -> running -> completed): from the answer of the first poll that saw it running to the
    request of the last one. Its real run is a little longer; the window never is."""
    seen: dict[str, list[float]] = {}
    pending = set(report_ids)
    while pending:
        sent = time.time()
        r = await client.get(REPORTS, params={"limit": 100}, headers=headers)
        received = time.time()
        r.raise_for_status()
        status = {item["id"]: item["status"] for item in r.json()["data"]}
        for report_id in list(pending):
            state = status.get(report_id)
            if state == "running":
                seen.setdefault(report_id, [received, sent])[1] = sent
            elif state == "completed":
                pending.discard(report_id)
            elif state in ("failed", None):
                raise RuntimeError(f"report {report_id}: {state or 'not listed'}")
        await asyncio.sleep(poll)
    return [(lo, hi) for lo, hi in seen.values() if lo < hi]


def busy_samples(samples: list[Sample], windows: list[tuple[float, float]]) -> list[Sample]:
    """The samples that started and ended inside one render's window (or inside overlapping renders)."""
    merged: list[list[float]] = []
    for start, end in sorted(windows):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [s for s in samples if any(lo <= s.start and s.end <= hi for lo, hi in merged)]


async def _busy_round(client: httpx.AsyncClient, headers: dict[str, str]) -> tuple[list[Sample], int, float]:
    """Four PDFs queued at once, /usage sampled until all are completed: (the busy samples, how many
    samples were dropped as not during a render, seconds of rendering seen)."""
    ids = [await _create(client, headers) for _ in range(4)]
    watch = asyncio.create_task(render_windows(client, headers, ids, 0.05))
    samples: list[Sample] = []
    while not watch.done():
        samples += await _usage_latencies(client, headers, 5)
    windows = await watch
    busy = busy_samples(samples, windows)
    return busy, len(samples) - len(busy), sum(hi - lo for lo, hi in windows)


@dataclass
class Outcome:
    p50: float
    ratio: float
    enough_busy: bool  # too few busy samples make no p99: not a pass

    @property
    def passed(self) -> bool:
        return self.p50 <= 1.5 and self.ratio <= 2 and self.enough_busy


async def measure(
    per_day: int = 150,
    runs: int = 5,
    requests: int = 200,
    sample_png: Path | None = None,
    min_busy: int = 50,
    database_url: str | None = None,
) -> Outcome:
    """Run the benchmark and print its table (on `database_url`, a fresh PostgreSQL database, if given)."""
    t0 = time.perf_counter()
    db_path, events = await load_dataset(per_day, database_url)
    load_s = time.perf_counter() - t0
    headers = _headers()
    with tempfile.TemporaryDirectory(prefix="reports-bench-") as tmp:
        async with (
            Server(db_path, Path(tmp), database_url) as server,
            httpx.AsyncClient(base_url=server.base, timeout=60) as c,
        ):
            await _pdf(c, headers)  # warm-up: the render pool's first worker, caches
            timings = []
            last: dict[str, Any] = {}
            for _ in range(runs):
                seconds, last = await _pdf(c, headers)
                timings.append(seconds)
            if sample_png is not None:
                pdf = (await c.get(last["download_url"], headers=headers)).content
                _sample(pdf, sample_png)
            await _usage_latencies(c, headers, 20)  # warm-up
            idle = [s.seconds for s in await _usage_latencies(c, headers, requests)]
            busy: list[float] = []
            dropped = rounds = 0
            render_s = 0.0
            while len(busy) < min_busy and rounds < MAX_BUSY_ROUNDS:
                samples, n_dropped, span = await _busy_round(c, headers)
                busy += [s.seconds for s in samples]
                dropped += n_dropped
                render_s += span
                rounds += 1
    p50 = statistics.median(timings)
    idle_p99, busy_p99 = common.percentile(idle, 99), common.percentile(busy, 99)
    ratio = busy_p99 / idle_p99 if busy else float("inf")
    outcome = Outcome(p50, ratio, len(busy) >= min_busy)
    rows = [
        (
            "data set",
            f"{events} events, 90 days, {per_day} conversations/day, "
            f"{'PostgreSQL' if database_url else 'SQLite'}",
            "",
            "",
        ),
        ("data set load (or reuse)", f"{load_s:.1f} s", "", ""),
        ("full PDF, 90 days, end to end p50", f"{p50:.3f} s", "<= 1.5 s", _ok(p50 <= 1.5)),
        ("  runs", ", ".join(f"{t:.3f}" for t in timings), "", ""),
        ("  PDF size", f"{last['size_bytes']} bytes", "", ""),
        ("/usage p99 idle", f"{idle_p99 * 1000:.1f} ms (n={len(idle)})", "", ""),
        (
            "/usage p99 while PDFs render",
            f"{busy_p99 * 1000:.1f} ms (n={len(busy)} during a render; {dropped} outside one dropped; "
            f"{rounds} round(s) of 4 PDFs, {render_s:.1f} s seen running)",
            f">= {min_busy} samples",
            _ok(len(busy) >= min_busy),
        ),
        ("  ratio", f"{ratio:.2f}", "<= 2", _ok(ratio <= 2)),
        ("machine", f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}", "", ""),
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for r in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip())
    print(f"  reports: {'PASS' if outcome.passed else 'FAIL'}")
    return outcome


def _ok(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def _sample(pdf: bytes, png: Path) -> None:
    if shutil.which("pdftoppm") is None:
        print("pdftoppm not found (apt-get install poppler-utils): no sample PNG", file=sys.stderr)
        return
    common.OUT_DIR.mkdir(parents=True, exist_ok=True)
    pdf_path = common.OUT_DIR / "report-sample.pdf"
    pdf_path.write_bytes(pdf)
    png.parent.mkdir(parents=True, exist_ok=True)
    stem = png.with_suffix("")
    subprocess.run(["pdftoppm", "-png", "-r", "60", "-singlefile", str(pdf_path), str(stem)], check=True)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry: parse the options, run `measure`; 0 when both targets are met, else 1."""
    parser = argparse.ArgumentParser(
        prog="python -m bench reports",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--per-day", type=int, default=150)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--min-busy", type=int, default=50, help="busy samples needed for the p99")
    parser.add_argument("--sample-png", type=Path, default=None)
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite",
                        help="postgres: a fresh database on BENCH_PG_URL's server, loaded through ingestion")  # fmt: skip
    args = parser.parse_args(argv)
    url = None
    if args.db == "postgres":
        from bench import pg

        url = pg.fresh_database("bench_reports")
    try:
        outcome = asyncio.run(
            measure(args.per_day, args.runs, args.requests, args.sample_png, args.min_busy, url)
        )
    finally:
        if url is not None:
            from bench import pg

            pg.drop_database(url)
    return 0 if outcome.passed else 1


if __name__ == "__main__":
    sys.exit(main())
