"""What every benchmark shares: the server subprocess, tokens, percentiles, tables, profiles."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parent.parent
OUT_DIR = Path(__file__).resolve().parent / "out"
SECRET = "bench-secret-" + "x" * 40
PREFIX = "/api/v1/analytics"


def settings(database_url: str = "sqlite://:memory:") -> Any:
    from app.config import Settings

    return Settings(env="test", jwt_secret=SECRET, database_url=database_url)


def token(roles: list[str]) -> str:
    from app.auth import mint_token

    return mint_token(settings(), roles, ttl_minutes=24 * 60, subject="bench")


def auth_headers(roles: list[str] | None = None) -> dict[str, str]:
    return {"Authorization": "Bearer " + token(roles or ["admin"])}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def sqlite_url(path: Path) -> str:
    return f"sqlite://{path}"


def remove_sqlite(path: Path) -> None:
    """Delete a SQLite database with its WAL and shared-memory files."""
    for suffix in ("", "-wal", "-shm", "-ingest.lock"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def _proc_status(pid: int) -> dict[str, int]:
    """VmHWM / VmRSS of a process in kB (empty when it is gone)."""
    out: dict[str, int] = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmHWM", "VmRSS"):
                out[key] = int(value.split()[0])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return out


class Server:
    """The service as a uvicorn subprocess (`python -m uvicorn --factory bench.server_factory:create`).

    Environment: ANALYTICS_DATABASE_URL / _JWT_SECRET / _PORT / _ENV like a deployment; access log
    off (set BENCH_ACCESS_LOG=1 to keep it) so the numbers are the app's, not the log's.
    BENCH_FACTORY=module:function serves another app factory (e.g. `bench.writer_trace:create`).
    """

    def __init__(
        self,
        db_path: Path,
        workdir: Path,
        *,
        extra_env: dict[str, str] | None = None,
        workers: int = 1,
        launcher: str = "uvicorn",
        factory: str | None = None,
        launcher_args: Sequence[str] = (),
    ) -> None:
        self.factory = factory
        self.launcher_args = list(launcher_args)  # more options for the launcher
        self.launcher = launcher  # the module run with `python -m`: uvicorn or bench.load_server
        self.db_path = db_path
        self.workers = workers
        self.workdir = workdir
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.peak_rss_mb: float | None = None
        self.extra_env = extra_env or {}
        self.log_path = workdir / f"server-{self.port}.log"

    def start(self, timeout: float = 300.0) -> Server:
        env = dict(os.environ)
        env.update(
            {
                "ANALYTICS_DATABASE_URL": sqlite_url(self.db_path),
                "ANALYTICS_JWT_SECRET": SECRET,
                "ANALYTICS_PORT": str(self.port),
                "ANALYTICS_HOST": "127.0.0.1",
                "ANALYTICS_ENV": "production",
                # Throughput is the service's, not its limiter's (3,000 requests a minute per credential):
                # the rate limits are tested by tests/http, and `bench load` turns them off too.
                "ANALYTICS_RATE_LIMIT_ENABLED": "false",
                "ANALYTICS_REPORTS_DIR": str(self.workdir / "reports"),
                "ANALYTICS_LOG_LEVEL": "WARNING",
                "PYTHONPATH": str(REPO) + os.pathsep + env.get("PYTHONPATH", ""),
            }
        )
        env.update(self.extra_env)
        cmd = [
            sys.executable,
            "-m",
            self.launcher,
            "--factory",
            self.factory or os.environ.get("BENCH_FACTORY", "bench.server_factory:create"),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--log-level",
            "warning",
        ]
        if os.environ.get("BENCH_ACCESS_LOG") != "1":
            cmd.append("--no-access-log")
        if self.workers > 1:  # uvicorn's supervisor forks the workers; they share the port
            cmd += ["--workers", str(self.workers)]
        cmd += self.launcher_args
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited early ({self.proc.returncode}): {self.log_tail()}")
            try:
                if httpx.get(self.base_url + "/health", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"server did not answer /health within {timeout}s: {self.log_tail()}")

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def rss_mb(self) -> tuple[float, float]:
        """(current RSS, peak RSS) in MB."""
        st = _proc_status(self.pid)
        return st.get("VmRSS", 0) / 1024, st.get("VmHWM", 0) / 1024

    def cpu_seconds(self) -> float:
        """CPU time (user + system) used so far by the server's live processes: the supervisor,
        its workers and their report workers (from /proc; 0 where it cannot be read)."""
        total = 0.0
        tick = os.sysconf("SC_CLK_TCK")
        pending = [self.pid]
        while pending:
            pid = pending.pop()
            try:
                stat = Path(f"/proc/{pid}/stat").read_text()
                fields = stat[stat.rindex(")") + 2 :].split()
                total += (int(fields[11]) + int(fields[12])) / tick
                for task in Path(f"/proc/{pid}/task").iterdir():
                    pending += [int(c) for c in (task / "children").read_text().split()]
            except (OSError, ValueError):
                continue
        return total

    def log_tail(self, n: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except FileNotFoundError:
            return ""

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.peak_rss_mb = self.rss_mb()[1]
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def profiled(pid: int, name: str, enabled: bool, rate: int = 200) -> Iterator[Path | None]:
    """`py-spy record` (collapsed stacks) of `pid` while the block runs; None when disabled."""
    if not enabled:
        yield None
        return
    spy = find_py_spy()
    if spy is None:
        print("  (py-spy not found: pip install py-spy, or set BENCH_PY_SPY=/path/to/py-spy)")
        yield None
        return
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    out = OUT_DIR / f"{name}.collapsed"
    proc = subprocess.Popen(
        [
            spy,
            "record",
            "--pid",
            str(pid),
            "--rate",
            str(rate),
            "--threads",
            "--format",
            "raw",
            "--output",
            str(out),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(1.0)
    try:
        yield out
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()


def find_py_spy() -> str | None:
    for candidate in (
        os.environ.get("BENCH_PY_SPY"),
        shutil.which("py-spy"),
        str(Path(sys.executable).parent / "py-spy"),
    ):
        if candidate and Path(candidate).exists():
            return candidate
    return None


def summarize_profile(path: Path, top: int = 25, focus: Sequence[str] = ()) -> str:
    """Self and inclusive sample shares per function from py-spy's collapsed stacks."""
    if not path.exists():
        return f"(no profile at {path})"
    inclusive: dict[str, int] = {}
    self_: dict[str, int] = {}
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count_s = line.rpartition(" ")
        if not stack or not count_s.isdigit():
            continue
        count = int(count_s)
        total += count
        frames = [_short(f) for f in stack.split(";")]
        for fr in set(frames):
            inclusive[fr] = inclusive.get(fr, 0) + count
        self_[frames[-1]] = self_.get(frames[-1], 0) + count
    if not total:
        return "(empty profile)"
    lines = [f"samples: {total}", "top self time:"]
    for fr, n in sorted(self_.items(), key=lambda kv: -kv[1])[:top]:
        lines.append(f"  {100 * n / total:5.1f}%  {fr}")
    lines.append("top inclusive time (project code and libraries):")
    shown = 0
    for fr, n in sorted(inclusive.items(), key=lambda kv: -kv[1]):
        if focus and not any(f in fr for f in focus):
            continue
        lines.append(f"  {100 * n / total:5.1f}%  {fr}")
        shown += 1
        if shown >= top:
            break
    return "\n".join(lines)


def _short(frame: str) -> str:
    # py-spy raw frames: "function (path/to/file.py:line)"
    name, _, where = frame.partition(" (")
    where = where.rstrip(")")
    path, _, _line = where.rpartition(":")
    for marker in ("site-packages/", "/work/main/", "lib/python3.11/"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return f"{name} ({path})"


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (q in 0..100)."""
    if not values:
        return float("nan")
    s = sorted(values)
    k = (len(s) - 1) * q / 100
    lo = int(k)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[str(h) for h in headers]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    out = []
    for n, r in enumerate(cells):
        out.append("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
        if n == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    out = ["| " + " | ".join(str(h) for h in headers) + " |", "|" + "---|" * len(headers)]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def machine_note() -> str:
    load = os.getloadavg()
    return f"{os.cpu_count()} cores, load average {load[0]:.2f}/{load[1]:.2f}/{load[2]:.2f}"
