"""Authentication and roles on REST and GraphQL (API.md sections 1 and 2)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
import jwt
import pytest

from app.auth import create_api_key
from app.config import get_settings
from app.models import ApiKey
from tests.factories import bearer

USAGE = "/api/v1/analytics/usage"


def _none_alg_token() -> str:
    s = get_settings()
    claims = {
        "iss": s.jwt_issuer,
        "aud": s.jwt_audience,
        "roles": ["admin"],
        "exp": int((datetime.now(UTC) + timedelta(minutes=5)).timestamp()),
    }
    return jwt.encode(claims, key="", algorithm="none")


def _hs512_token() -> str:
    s = get_settings()
    claims = {
        "iss": s.jwt_issuer,
        "aud": s.jwt_audience,
        "roles": ["admin"],
        "exp": int((datetime.now(UTC) + timedelta(minutes=5)).timestamp()),
    }
    return jwt.encode(claims, key=s.jwt_secret * 2, algorithm="HS512")


async def test_missing_credentials_is_401_missing_token(client: httpx.AsyncClient) -> None:
    r = await client.get(USAGE)
    assert r.status_code == 401
    assert r.json()["error"] == "missing_token"


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param(
            bearer(["admin"], _secret="another-secret-of-sufficient-length-123456"), id="bad-signature"
        ),
        pytest.param(bearer(["admin"], exp=datetime.now(UTC) - timedelta(seconds=5)), id="expired"),
        pytest.param(bearer(["admin"], iss="someone-else"), id="wrong-issuer"),
        pytest.param(bearer(["admin"], aud="other-api"), id="wrong-audience"),
        pytest.param(bearer(["admin"], exp=None), id="no-exp"),
        pytest.param({"Authorization": "Bearer " + _none_alg_token()}, id="alg-none"),
        pytest.param({"Authorization": "Bearer " + _hs512_token()}, id="unexpected-alg"),
        pytest.param({"Authorization": "Bearer not.a.jwt"}, id="garbage"),
        pytest.param({"Authorization": "Basic dXNlcjpwYXNz"}, id="not-bearer"),
        pytest.param({"X-API-Key": "ba_unknown"}, id="unknown-key"),
    ],
)
async def test_invalid_credentials_are_401_invalid_token(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    r = await client.get(USAGE, headers=headers)
    assert r.status_code == 401, r.text
    body = r.json()
    assert body["error"] == "invalid_token"
    assert set(body) <= {"error", "message", "details"}


async def test_revoked_api_key_is_401_and_active_key_works(client: httpx.AsyncClient) -> None:
    plain, row = await create_api_key("dash", ["analytics_viewer"], None)
    assert (await client.get(USAGE, headers={"X-API-Key": plain})).status_code == 200
    stored = await ApiKey.get(id=row.id)
    assert plain not in (stored.key_hash, stored.prefix) and len(stored.key_hash) == 64
    stored.revoked_at = datetime.now(UTC)
    await stored.save()
    r = await client.get(USAGE, headers={"X-API-Key": plain})
    assert r.status_code == 401 and r.json()["error"] == "invalid_token"


async def test_an_invalid_credential_beside_a_valid_one_is_still_401(client: httpx.AsyncClient) -> None:
    plain, _ = await create_api_key("dash", ["analytics_viewer"], None)
    headers = {"X-API-Key": plain, **bearer(["admin"], iss="someone-else")}
    r = await client.get(USAGE, headers=headers)
    assert r.status_code == 401 and r.json()["error"] == "invalid_token"


@pytest.mark.parametrize(
    ("roles", "status"),
    [
        (["analytics_viewer"], 200),
        (["analytics_admin"], 200),
        (["admin"], 200),
        (["analytics_ingest"], 403),
        (["superuser"], 403),
        ([], 403),
    ],
)
async def test_read_roles(client: httpx.AsyncClient, roles: list[str], status: int) -> None:
    r = await client.get(USAGE, headers=bearer(roles))
    assert r.status_code == status, r.text
    if status == 403:
        assert r.json()["error"] == "insufficient_permissions"


async def test_token_without_roles_claim_is_403(client: httpx.AsyncClient) -> None:
    r = await client.get(USAGE, headers=bearer(["admin"], roles=None))
    assert r.status_code == 403 and r.json()["error"] == "insufficient_permissions"


@pytest.mark.parametrize(
    ("roles", "status"),
    [(["analytics_ingest"], 200), (["admin"], 200), (["analytics_viewer"], 403), (["analytics_admin"], 403)],
)
async def test_ingest_roles(client: httpx.AsyncClient, roles: list[str], status: int) -> None:
    ev = {
        "type": "conversation_started",
        "timestamp": "2025-01-01T00:00:00Z",
        "conversation_id": str(uuid.uuid4()),
        "bot_id": str(uuid.uuid4()),
        "user_id": str(uuid.uuid4()),
    }
    r = await client.post("/api/v1/analytics/events", json={"events": [ev]}, headers=bearer(roles))
    assert r.status_code == status, r.text
    if status == 403:
        assert r.json()["error"] == "insufficient_permissions"
    else:
        assert r.json() == {"accepted": 1, "duplicates": 0}


async def test_bot_scope_on_reads_and_ingest(client: httpx.AsyncClient) -> None:
    mine, other = str(uuid.uuid4()), str(uuid.uuid4())
    headers = bearer(["analytics_viewer", "analytics_ingest"], [mine])
    assert (await client.get(USAGE, params={"bot_id": mine}, headers=headers)).status_code == 200
    r = await client.get(USAGE, params={"bot_id": other}, headers=headers)
    assert r.status_code == 403 and r.json()["error"] == "insufficient_permissions"
    ev = {
        "type": "conversation_started",
        "timestamp": "2025-01-01T00:00:00Z",
        "conversation_id": str(uuid.uuid4()),
        "bot_id": other,
        "user_id": str(uuid.uuid4()),
    }
    r = await client.post("/api/v1/analytics/events", json={"events": [ev]}, headers=headers)
    assert r.status_code == 403 and r.json()["error"] == "insufficient_permissions"


async def test_api_key_bot_scope(client: httpx.AsyncClient) -> None:
    mine, other = str(uuid.uuid4()), str(uuid.uuid4())
    plain, _ = await create_api_key("scoped", ["analytics_viewer"], [mine])
    r = await client.get(USAGE, params={"bot_id": other}, headers={"X-API-Key": plain})
    assert r.status_code == 403 and r.json()["error"] == "insufficient_permissions"


async def test_graphql_errors_carry_extension_codes(client: httpx.AsyncClient) -> None:
    q = {"query": "{ usage { totalConversations } }"}
    r = await client.post("/graphql", json=q)
    assert r.status_code == 200
    assert r.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    r = await client.post("/graphql", json=q, headers=bearer(["analytics_ingest"]))
    assert r.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    r = await client.post(
        "/graphql",
        json={"query": "{ usage(filter: {days: 0}) { totalConversations } }"},
        headers=bearer(["admin"]),
    )
    err = r.json()["errors"][0]
    assert err["extensions"]["code"] == "BAD_USER_INPUT"
    r = await client.post("/graphql", json={"query": "{ nope }"}, headers=bearer(["admin"]))
    assert r.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


def test_production_refuses_a_missing_or_short_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    from pydantic import ValidationError

    from app.config import Settings

    with pytest.raises(ValidationError, match="at least 32 bytes"):
        Settings(env="production", jwt_secret="short")
    with pytest.raises(ValidationError):
        Settings(env="production", jwt_secret="")
    assert Settings(env="production", jwt_secret="s" * 32).jwt_secret == "s" * 32


def test_cli_token_is_accepted_by_the_verifier() -> None:
    from app.auth import mint_token

    s = get_settings()
    tok = mint_token(s, ["analytics_viewer"], [str(uuid.UUID(int=1))], ttl_minutes=5)
    claims = jwt.decode(tok, s.jwt_secret, algorithms=["HS256"], audience=s.jwt_audience, issuer=s.jwt_issuer)
    assert claims["roles"] == ["analytics_viewer"] and claims["bot_ids"] == [str(uuid.UUID(int=1))]
