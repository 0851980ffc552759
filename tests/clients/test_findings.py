"""What Schemathesis found in the service, each as the exact request (in-process app, no live server)."""

from __future__ import annotations

import httpx

from tests.factories import bearer

A = "/api/v1/analytics"
ADMIN = bearer(["admin"])


async def test_405_lists_every_method_of_the_path_in_allow(client: httpx.AsyncClient) -> None:
    """RFC 9110: a 405 carries `Allow`; `/reports` has a GET and a POST route, both listed."""
    r = await client.put(A + "/reports", headers=ADMIN)
    assert r.status_code == 405
    assert r.headers["allow"] == "GET, POST"
    assert r.json()["error"] == "method_not_allowed"
    r = await client.request("TRACE", A + "/reports/0b7f7c8e-0000-4000-8000-000000000000", headers=ADMIN)
    assert r.status_code == 405 and r.headers["allow"] == "DELETE, GET"
    r = await client.post("/health")
    assert r.status_code == 405 and r.headers["allow"] == "GET"


async def test_a_whole_number_written_as_a_float_is_an_integer(client: httpx.AsyncClient) -> None:
    """JSON Schema counts 7.0 as an integer, so /openapi.json allows it for `days`: the service too."""
    r = await client.post(A + "/reports", json={"type": "usage", "format": "csv", "days": 7.0}, headers=ADMIN)
    assert r.status_code == 202, r.text
    assert r.json()["parameters"]["days"] == 7
    r = await client.post(A + "/reports", json={"type": "usage", "days": 7.5}, headers=ADMIN)
    assert r.status_code == 400 and r.json()["details"] == [{"field": "days"}]
