"""GraphQL-over-HTTP: a request /graphql cannot run gets the GraphQL response shape with
`BAD_USER_INPUT` and the spec's status (400 not well-formed, 405 mutation by GET, 200 otherwise),
never text/plain or INTERNAL_SERVER_ERROR; `connection_init` with a null payload is no payload;
GraphiQL opens with an example query that runs and an Authorization header template."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from websockets.typing import Subprotocol

from tests.factories import bearer, token_for
from tests.live_server import live_server

VIEWER = bearer(["admin"])


def _bad_user_input(r: httpx.Response, status: int) -> str:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json"), r.headers
    body: dict[str, Any] = r.json()
    assert body["data"] is None, body
    [error] = body["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT", body
    message: str = error["message"]
    return message


async def test_a_subscription_by_post_names_the_websocket_endpoint(client: httpx.AsyncClient) -> None:
    document = "subscription { realtime { activeSessions } }"
    r = await client.post("/graphql", json={"query": document}, headers=VIEWER)
    message = _bad_user_input(r, 200)
    assert "WebSocket" in message and "/graphql" in message and "graphql-transport-ws" in message


async def test_an_unknown_operation_name_is_bad_user_input(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/graphql", json={"query": "query A { __typename }", "operationName": "Nope"}, headers=VIEWER
    )
    assert "Nope" in _bad_user_input(r, 200)


async def test_two_operations_without_an_operation_name_run_neither(client: httpx.AsyncClient) -> None:
    document = "query A { __typename } query B { __typename }"
    r = await client.post("/graphql", json={"query": document}, headers=VIEWER)
    assert "operationName" in _bad_user_input(r, 200)
    # Naming one runs it.
    r = await client.post("/graphql", json={"query": document, "operationName": "B"}, headers=VIEWER)
    assert r.json() == {"data": {"__typename": "Query"}}


async def test_a_body_without_a_query_is_400(client: httpx.AsyncClient) -> None:
    r = await client.post("/graphql", json={}, headers=VIEWER)
    _bad_user_input(r, 400)
    r = await client.get("/graphql", headers={**VIEWER, "Accept": "application/json"})
    _bad_user_input(r, 400)


async def test_a_body_that_is_not_json_is_400(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/graphql", content=b"{not json", headers={**VIEWER, "Content-Type": "application/json"}
    )
    _bad_user_input(r, 400)


async def test_a_mutation_by_get_is_405_with_allow_post(client: httpx.AsyncClient) -> None:
    r = await client.get(
        "/graphql",
        params={"query": 'mutation { deleteReport(id: "00000000-0000-0000-0000-000000000000") }'},
        headers=VIEWER,
    )
    _bad_user_input(r, 405)
    assert r.headers["allow"] == "POST"
    # A query by GET still runs.
    r = await client.get("/graphql", params={"query": "{ __typename }"}, headers=VIEWER)
    assert r.json() == {"data": {"__typename": "Query"}}


# ----------------------------------------------------------------- connection_init with payload null


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with live_server(Path(tmp_path_factory.mktemp("ws-null"))) as running:
        yield f"ws://{running.address}/graphql"


async def _init_with_null_payload(url: str, headers: dict[str, str] | None) -> int | str:
    """The close code, or the type of the server's first message."""
    async with websockets.connect(
        url, subprotocols=[Subprotocol("graphql-transport-ws")], additional_headers=headers
    ) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": None}))
        try:
            message = json.loads(await asyncio.wait_for(ws.recv(), 5))
        except websockets.ConnectionClosed as closed:
            assert closed.rcvd is not None
            return closed.rcvd.code
        kind: str = message["type"]
        return kind


async def test_a_null_payload_without_credentials_is_4401(server: str) -> None:
    assert await _init_with_null_payload(server, None) == 4401


async def test_a_null_payload_with_an_authorization_header_is_acknowledged(server: str) -> None:
    headers = {"Authorization": f"Bearer {token_for(['analytics_viewer'])}"}
    assert await _init_with_null_payload(server, headers) == "connection_ack"


# ----------------------------------------------------------------------------------------- GraphiQL


async def test_graphiql_opens_with_an_example_query_that_runs(client: httpx.AsyncClient) -> None:
    page = (await client.get("/graphql", headers={"Accept": "text/html"})).text
    found = re.search(r"const EXAMPLE_QUERY = (\".*?\");\n", page)
    assert found is not None, "no example query in the page"
    query = json.loads(found.group(1))
    assert "usage(filter: {days: 7})" in query and "conversationVolume(filter: {days: 7})" in query
    r = await client.post("/graphql", json={"query": query}, headers=VIEWER)
    body = r.json()
    assert "errors" not in body, body
    assert set(body["data"]) == {"usage", "conversationVolume"}


async def test_graphiql_opens_with_an_authorization_header_template(client: httpx.AsyncClient) -> None:
    page = (await client.get("/graphql", headers={"Accept": "text/html"})).text
    found = re.search(r"React\.useState\(parameters\.headers \|\| (\".*?\")\)", page)
    assert found is not None, "no header template in the page"
    assert json.loads(json.loads(found.group(1))) == {"Authorization": "Bearer <token>"}
