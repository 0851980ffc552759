"""The load benchmark's pure parts, without a server: the lost-event accounting and the mix."""

from __future__ import annotations

from bench.load_bench import ROUTES, account, plan, read_requests

BOTS = ["11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222"]


def test_every_acknowledged_id_stored_once_passes() -> None:
    acks = [(["a", "b"], 2, 0), (["c"], 1, 0), (["a", "b"], 0, 2)]  # the last is a retry
    acc = account(acks, {"a", "b", "c", "unrelated"})
    assert (acc.acked_ids, acc.accepted, acc.duplicates, acc.lost) == (3, 3, 2, 0)
    assert acc.ok


def test_an_acknowledged_id_missing_from_the_table_is_lost() -> None:
    acc = account([(["a", "b"], 2, 0)], {"a"})
    assert acc.lost == 1
    assert not acc.ok


def test_a_retry_counted_as_accepted_again_is_caught() -> None:
    acc = account([(["a"], 1, 0), (["a"], 1, 0)], {"a"})
    assert acc.accepted_twice == 1
    assert not acc.ok


def test_an_answer_that_does_not_cover_its_batch_is_caught() -> None:
    acc = account([(["a", "b", "c"], 2, 0)], {"a", "b", "c"})
    assert acc.bad_answers == 1
    assert not acc.ok


def test_the_mix_is_about_four_reads_to_one_ingestion() -> None:
    kinds = plan(10_000)
    reads = kinds.count("read") / len(kinds)
    assert 0.78 < reads < 0.82
    assert set(kinds) == {"read", "ingest"}


def test_reads_cover_every_route_through_rest_and_graphql_with_varied_parameters() -> None:
    reads = read_requests(BOTS)
    assert {r.path for r in reads} == set(ROUTES)
    with_document = {p for p, (doc, _) in ROUTES.items() if doc}
    assert {r.path for r in reads if r.document} == with_document
    for name in ("days", "group_by", "bot_id", "timezone"):
        assert len({r.query.get(name) for r in reads}) >= 3, name
    # Retention never asked by hour (a 400 by the contract), hourly series only over short ranges.
    assert not any(r.path == "/engagement/retention" and r.query.get("group_by") == "hour" for r in reads)
    assert not any(r.query.get("group_by") == "hour" and r.query.get("days") in ("30", "90") for r in reads)
