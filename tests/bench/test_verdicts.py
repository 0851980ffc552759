"""The benchmarks' verdicts cannot pass wrongly: numbers that differ from the reference SQL are a
FAIL whatever the latency, a FAIL makes `python -m bench` exit 1, and the reports benchmark counts
a /usage sample as busy only when it ran entirely while a render was running.

No server and no timing here: the verdict logic is fed made-up answers and samples.
"""

from __future__ import annotations

import sys
import types
from typing import Any

import pytest

import bench.__main__ as bench_main
from bench import query_bench, reference_sql
from bench.query_bench import CASES, RouteResult, mismatches
from bench.reports_bench import Sample, busy_samples

USAGE = next(c for c in CASES if c.path == "/usage")
DAILY = next(c for c in CASES if c.path == "/usage/daily")
USAGE_SQL = {
    "total_conversations": 120,
    "total_messages": 3000,
    "user_messages": 1500,
    "active_users": 40,
    "new_users": 7,
    "avg_messages_per_conversation": 25.0,
    "avg_conversation_duration_seconds": 312.5,
}


def _usage_result(body: dict[str, Any]) -> RouteResult:
    """A /usage run fast and even on every path (1 ms, ratio 1.0): only its numbers can fail it."""
    r = RouteResult(USAGE, rest_ms=[1.0] * 5, gql_ms=[1.0] * 5, sql_ms=[1.0] * 5, rest_body=body)
    r.mismatch, r.checked = mismatches(USAGE, body, USAGE_SQL), True
    return r


def test_equal_numbers_pass() -> None:
    assert _usage_result(dict(USAGE_SQL)).passed()


def test_one_number_off_is_a_fail_whatever_the_latency() -> None:
    r = _usage_result({**USAGE_SQL, "total_messages": 3001})
    assert r.mismatch == ["total_messages: API 3001 vs SQL 3000"]
    assert not r.passed()
    assert r.failures() == ["numbers != SQL"]


def test_missing_number_is_a_fail() -> None:
    body = {k: v for k, v in USAGE_SQL.items() if k != "new_users"}
    assert [m.split(":")[0] for m in mismatches(USAGE, body, USAGE_SQL)] == ["new_users"]


def test_floats_compared_to_rounding_not_more() -> None:
    close = {**USAGE_SQL, "avg_messages_per_conversation": 25.0 * (1 + 1e-12)}
    off = {**USAGE_SQL, "avg_messages_per_conversation": 25.01}
    assert mismatches(USAGE, close, USAGE_SQL) == []
    assert len(mismatches(USAGE, off, USAGE_SQL)) == 1


def test_series_are_summed_before_comparing() -> None:
    sql = {"conversations": 5, "messages": 50, "active_user_days": 4, "new_users": 2}
    body = {
        "data": [
            {"date": "2026-01-01", "conversations": 2, "messages": 20, "active_users": 1, "new_users": 1},
            {"date": "2026-01-02", "conversations": 3, "messages": 30, "active_users": 3, "new_users": 1},
        ]
    }
    assert mismatches(DAILY, body, sql) == []
    body["data"][1]["messages"] = 31
    assert mismatches(DAILY, body, sql) == ["messages: API 51 vs SQL 50"]


def test_unchecked_route_is_not_a_pass() -> None:
    r = _usage_result(dict(USAGE_SQL))
    r.checked = False
    assert not r.passed()


def test_every_route_is_cross_checked() -> None:
    assert all(case.compare and case.sql for case in CASES)
    for case in CASES:
        assert case.sql is not None and case.sql.__module__ == reference_sql.__name__


def test_concurrency_mix_is_several_routes_and_parameter_sets() -> None:
    mix = query_bench.mixed_requests(["bot-a", "bot-b"])
    in_mix = [c for c in CASES if c.in_mix]
    assert len({path for path, _ in mix}) == len({c.path for c in in_mix}) >= 9
    assert len({(path, tuple(sorted(q.items()))) for path, q in mix}) == len(mix) == 3 * len(in_mix)


def test_busy_samples_are_only_those_inside_a_render() -> None:
    windows = [(10.0, 12.0), (11.5, 13.0), (20.0, 21.0)]  # the first two overlap: 10 .. 13
    inside = [Sample(10.0, 10.5, 0.5), Sample(11.9, 12.2, 0.3), Sample(20.1, 20.9, 0.8)]
    outside = [
        Sample(9.0, 9.5, 0.5),  # before the first render
        Sample(9.9, 10.1, 0.2),  # straddles its start
        Sample(12.9, 13.1, 0.2),  # straddles the end of the second
        Sample(15.0, 15.1, 0.1),  # between renders
        Sample(21.0, 21.2, 0.2),  # after the last
    ]
    assert busy_samples(inside + outside, windows) == inside


@pytest.mark.parametrize(
    ("outcome", "status"),
    [(0, 0), (1, 1), (None, 1), (SystemExit(3), 1), (RuntimeError("boom"), 1)],
)
def test_python_m_bench_fails_when_a_benchmark_does(
    monkeypatch: pytest.MonkeyPatch, outcome: object, status: int
) -> None:
    def main(argv: list[str]) -> object:
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    module = types.ModuleType("bench_fake_benchmark")
    module.main = main  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "bench_fake_benchmark", module)
    monkeypatch.setattr(bench_main, "BENCHMARKS", {"fake": "bench_fake_benchmark"})
    assert bench_main.main(["fake"]) == status
    assert bench_main.main([]) == status


def test_python_m_bench_alone_runs_each_benchmark_on_sqlite_then_on_postgresql(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[list[str]] = []

    def main(argv: list[str]) -> int:
        calls.append(argv)
        return 0

    module = types.ModuleType("bench_fake_benchmark")
    module.main = main  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "bench_fake_benchmark", module)
    monkeypatch.setattr(bench_main, "BENCHMARKS", {"a": "bench_fake_benchmark", "b": "bench_fake_benchmark"})
    assert bench_main.main([]) == 0
    assert calls == [[], [], ["--db", "postgres"], ["--db", "postgres"]]


def test_rest_within_a_millisecond_of_graphql_passes_but_a_slow_shim_fails() -> None:
    fast = _usage_result(dict(USAGE_SQL))
    fast.rest_ms, fast.gql_ms = [3.3] * 5, [2.4] * 5  # 1.38x, but 0.9 ms: the shim's fixed cost
    slow = _usage_result(dict(USAGE_SQL))
    slow.rest_ms, slow.gql_ms = [30.0] * 5, [20.0] * 5  # 1.5x and 10 ms
    assert "ratio" not in fast.failures()
    assert "ratio" in slow.failures()
