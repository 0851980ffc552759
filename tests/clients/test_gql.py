"""gql, the Python GraphQL client: a query with variables checked against the schema it fetched by
introspection, and a subscription over graphql-transport-ws that receives three pushes, then ends."""

from __future__ import annotations

import asyncio

import httpx
from gql import Client, GraphQLRequest, gql
from gql.transport.aiohttp import AIOHTTPTransport
from gql.transport.exceptions import TransportQueryError
from gql.transport.websockets import WebsocketsTransport
from graphql import GraphQLError

from tests.clients.conftest import Live

USAGE = gql(
    """
    query Usage($days: Int, $bot: String) {
      usage(filter: {days: $days, botId: $bot}) { totalConversations totalMessages range { start end } }
      dailyUsage(filter: {days: $days}) { data { date conversations } }
    }
    """
)


async def test_query_with_variables_validated_by_introspection(live: Live) -> None:
    transport = AIOHTTPTransport(url=live.base_url + "/graphql", headers=live.headers(live.viewer))
    async with Client(transport=transport, fetch_schema_from_transport=True) as session:
        assert session.client.schema is not None
        assert "usage" in session.client.schema.query_type.fields
        result = await session.execute(GraphQLRequest(USAGE, variable_values={"days": 7}))
        # The same numbers as the REST route for the same range.
        async with httpx.AsyncClient(base_url=live.base_url, headers=live.headers(live.viewer)) as http:
            rest = (await http.get("/api/v1/analytics/usage", params={"days": "7"})).json()
        assert result["usage"]["totalConversations"] == rest["total_conversations"] == 12
        assert result["usage"]["totalMessages"] == rest["total_messages"] == 24
        assert len(result["dailyUsage"]["data"]) == 7
        assert sum(d["conversations"] for d in result["dailyUsage"]["data"]) == 12
        # Validation against the fetched schema happens in the client, before any request.
        try:
            await session.execute(gql("{ usage { noSuchField } }"))
        except GraphQLError as exc:
            assert "noSuchField" in str(exc)
        else:
            raise AssertionError("the client did not validate the document")
        # A bad value is the contract's BAD_USER_INPUT.
        try:
            await session.execute(GraphQLRequest(USAGE, variable_values={"days": 0}))
        except TransportQueryError as exc:
            assert exc.errors is not None
            assert exc.errors[0]["extensions"]["code"] == "BAD_USER_INPUT"
        else:
            raise AssertionError("days=0 was accepted")


async def test_subscription_receives_three_pushes_then_completes(live: Live) -> None:
    url = live.base_url.replace("http://", "ws://") + "/graphql"
    transport = WebsocketsTransport(
        url=url,
        init_payload=live.headers(live.viewer),
        subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL],
    )
    subscription = gql(
        "subscription { realtime(intervalSeconds: 1, windowMinutes: 10) { asOf windowMinutes activeSessions } }"
    )
    pushes = []
    async with Client(transport=transport) as session:

        async def three() -> None:
            async for push in session.subscribe(subscription):
                pushes.append(push["realtime"])
                if len(pushes) == 3:
                    break  # leaving the loop sends `complete` for the operation

        await asyncio.wait_for(three(), 20)
        # The connection is still usable after the client completed the subscription.
        one = await session.execute(gql("{ realtime { windowMinutes } }"))
    assert [p["windowMinutes"] for p in pushes] == [10, 10, 10]
    assert len({p["asOf"] for p in pushes}) == 3  # three distinct pushes, a second apart
    assert one == {"realtime": {"windowMinutes": 5}}
