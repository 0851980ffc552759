"""Schemathesis 4 against the live server's /graphql (its introspection), with an admin token: every
query and mutation with generated arguments. Its only findings may be the contract's own answers:
GraphQL errors with `BAD_USER_INPUT` (a generated range or id the rules refuse) or `NOT_FOUND` (a
generated report id); never a 5xx, an INTERNAL_SERVER_ERROR or an answer without a code."""

from __future__ import annotations

from typing import Any

import httpx
import schemathesis
from schemathesis.engine import Status, events, from_schema

from graphql_schema.schema import schema
from tests.clients.conftest import Live

core = schema._schema

MAX_EXAMPLES = 8
"""Per operation: the client suites stay within their time budget on 2 cores."""
CONTRACT_CODES = {"BAD_USER_INPUT", "NOT_FOUND"}


def test_graphql_findings_are_only_the_contracts_answers(live: Live) -> None:
    loaded = schemathesis.graphql.from_url(live.base_url + "/graphql", headers=live.headers())
    loaded.config.update(base_url=live.base_url + "/graphql", headers=live.headers(), request_timeout=30)
    loaded.config.generation.update(max_examples=MAX_EXAMPLES)
    loaded.config.phases.update(phases=["examples", "fuzzing"])
    operations: set[str] = set()
    findings: list[str] = []
    unexpected: list[str] = []
    for event in from_schema(loaded).execute():
        if isinstance(event, events.ScenarioFinished):
            operations.add(event.recorder.label)
            for case_id, nodes in event.recorder.checks.items():
                for node in nodes:
                    if node.status != Status.FAILURE or node.failure_info is None:
                        continue
                    interaction = event.recorder.interactions.get(case_id)
                    response = interaction.response if interaction is not None else None
                    body: Any = None
                    if response is not None:
                        try:
                            body = httpx.Response(response.status_code, content=response.content).json()
                        except ValueError:
                            body = None
                    codes = {
                        (e.get("extensions") or {}).get("code")
                        for e in (body or {}).get("errors") or []
                        if isinstance(e, dict)
                    }
                    label = f"{event.recorder.label} {node.name}: {node.failure_info.failure.title}"
                    status = response.status_code if response is not None else None
                    if status is not None and status < 500 and codes and codes <= CONTRACT_CODES:
                        findings.append(label)
                    else:
                        unexpected.append(f"{label} (status {status}, codes {codes})\n  {body!r:.500}")
        elif isinstance(event, events.NonFatalError):
            unexpected.append(f"error in {event.label}: {event.info.message}")
        elif isinstance(event, events.FatalError):
            unexpected.append(f"fatal: {event.exception!r}")
    assert not unexpected, "\n\n".join(unexpected)
    every = {
        f"{root.name}.{name}"
        for root in (core.query_type, core.mutation_type)
        if root
        for name in root.fields
    }
    assert operations == every
