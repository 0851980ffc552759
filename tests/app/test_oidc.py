"""OIDC tokens (RS256/ES256) verified against a JWKS served by the test itself (app/oidc.py, README
"Security"): accepted with roles from a list or Zitadel's object, key rotation, refused when forged."""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from app.config import get_settings
from app.oidc import reset_jwks_caches

USAGE = "/api/v1/analytics/usage"
GRAPHQL_USAGE = {"query": "{ usage { totalConversations } }"}
ISSUER = "https://idp.example.test"
AUDIENCE = "analytics-api"
ZITADEL = "urn:zitadel:iam:org:project:roles"


class Jwks:
    """A JWKS endpoint on 127.0.0.1: `keys` is what it serves, `hits` how often it was asked."""

    def __init__(self) -> None:
        self.keys: list[dict[str, Any]] = []
        self.hits = 0
        jwks = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                jwks.hits += 1
                body = json.dumps({"keys": jwks.keys}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/jwks"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Signer:
    """A private key with its public JWK."""

    def __init__(self, alg: str, kid: str | None = None) -> None:
        self.alg = alg
        self.kid = kid or uuid.uuid4().hex
        if alg.startswith("RS"):
            self.private: Any = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            algorithm: Any = jwt.algorithms.RSAAlgorithm
        else:
            self.private = ec.generate_private_key(ec.SECP256R1())
            algorithm = jwt.algorithms.ECAlgorithm
        self.jwk: dict[str, Any] = json.loads(algorithm.to_jwk(self.private.public_key()))
        self.jwk.update({"kid": self.kid, "use": "sig", "alg": alg})

    def public_pem(self) -> bytes:
        return bytes(
            self.private.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )

    def token(self, headers: dict[str, Any] | None = None, **overrides: Any) -> str:
        now = datetime.now(UTC)
        claims: dict[str, Any] = {
            "sub": "user-1",
            "iss": ISSUER,
            "aud": AUDIENCE,
            "iat": now,
            "exp": now + timedelta(minutes=10),
            "roles": ["analytics_viewer"],
        }
        for k, v in overrides.items():
            if v is None:
                claims.pop(k, None)
            else:
                claims[k] = v
        head = {"kid": self.kid} if headers is None else headers
        return jwt.encode(claims, self.private, algorithm=self.alg, headers=head)


def auth(token: str) -> dict[str, str]:
    return {"Authorization": "Bearer " + token}


@pytest.fixture
def jwks() -> Iterator[Jwks]:
    server = Jwks()
    yield server
    server.close()


@pytest.fixture
def oidc(jwks: Jwks, monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """The service configured for the test's identity provider; returns `monkeypatch` so a test can
    set more variables (then call `get_settings.cache_clear()`)."""
    monkeypatch.setenv("ANALYTICS_JWKS_URL", jwks.url)
    monkeypatch.setenv("ANALYTICS_JWT_ALGORITHMS", '["HS256", "RS256", "ES256"]')
    monkeypatch.setenv("ANALYTICS_JWT_ISSUER", ISSUER)
    monkeypatch.setenv("ANALYTICS_JWT_AUDIENCE", AUDIENCE)
    get_settings.cache_clear()
    reset_jwks_caches()
    yield monkeypatch
    monkeypatch.undo()
    get_settings.cache_clear()
    reset_jwks_caches()


def _reconfigure(oidc: pytest.MonkeyPatch, **env: str) -> None:
    for name, value in env.items():
        oidc.setenv(name, value)
    get_settings.cache_clear()
    reset_jwks_caches()


async def _usage_status(client: httpx.AsyncClient, token: str) -> tuple[int, str]:
    r = await client.get(USAGE, headers=auth(token))
    return r.status_code, r.json().get("error", "")


@pytest.mark.parametrize("alg", ["RS256", "ES256"])
async def test_an_oidc_token_is_accepted_on_rest_and_graphql(
    client: httpx.AsyncClient, jwks: Jwks, oidc: pytest.MonkeyPatch, alg: str
) -> None:
    signer = Signer(alg)
    jwks.keys = [signer.jwk]
    r = await client.get(USAGE, headers=auth(signer.token()))
    assert r.status_code == 200, r.text
    assert r.json()["total_conversations"] == 0
    r = await client.post("/graphql", json=GRAPHQL_USAGE, headers=auth(signer.token()))
    assert r.json() == {"data": {"usage": {"totalConversations": 0}}}
    # Roles decide: an ingest-only user cannot read.
    r = await client.get(USAGE, headers=auth(signer.token(roles=["analytics_ingest"])))
    assert r.status_code == 403
    # The key set was fetched once for all three requests.
    assert jwks.hits == 1


async def test_roles_from_zitadels_object_claim(
    client: httpx.AsyncClient, jwks: Jwks, oidc: pytest.MonkeyPatch
) -> None:
    _reconfigure(oidc, ANALYTICS_JWT_ROLES_CLAIM=ZITADEL)
    signer = Signer("RS256")
    jwks.keys = [signer.jwk]
    viewer = {"analytics_viewer": {"123456": "org.example.test"}}
    token = signer.token(roles=None, **{ZITADEL: viewer})
    assert await _usage_status(client, token) == (200, "")
    r = await client.post("/graphql", json=GRAPHQL_USAGE, headers=auth(token))
    assert r.json() == {"data": {"usage": {"totalConversations": 0}}}
    # The `roles` claim no longer counts once another claim is configured.
    assert await _usage_status(client, signer.token()) == (403, "insufficient_permissions")
    ingest_only = signer.token(roles=None, **{ZITADEL: {"analytics_ingest": {"1": "org"}}})
    assert await _usage_status(client, ingest_only) == (403, "insufficient_permissions")
    # A claim that is neither a list nor an object is a bad token.
    not_roles: dict[str, Any] = {ZITADEL: "analytics_viewer"}
    assert await _usage_status(client, signer.token(**not_roles)) == (401, "invalid_token")


async def test_roles_from_a_dotted_path(
    client: httpx.AsyncClient, jwks: Jwks, oidc: pytest.MonkeyPatch
) -> None:
    _reconfigure(oidc, ANALYTICS_JWT_ROLES_CLAIM="realm_access.roles")
    signer = Signer("ES256")
    jwks.keys = [signer.jwk]
    token = signer.token(roles=None, realm_access={"roles": ["analytics_viewer"]})
    assert await _usage_status(client, token) == (200, "")
    assert await _usage_status(client, signer.token()) == (403, "insufficient_permissions")


async def test_bot_scope_claim_applies_to_oidc_tokens(
    client: httpx.AsyncClient, jwks: Jwks, oidc: pytest.MonkeyPatch
) -> None:
    signer = Signer("RS256")
    jwks.keys = [signer.jwk]
    mine, other = str(uuid.uuid4()), str(uuid.uuid4())
    token = signer.token(bot_ids=[mine])
    r = await client.get(USAGE, params={"bot_id": mine}, headers=auth(token))
    assert r.status_code == 200
    r = await client.get(USAGE, params={"bot_id": other}, headers=auth(token))
    assert r.status_code == 403


async def test_a_rotated_key_is_fetched_once_and_accepted(
    client: httpx.AsyncClient, jwks: Jwks, oidc: pytest.MonkeyPatch
) -> None:
    _reconfigure(oidc, ANALYTICS_JWKS_MIN_REFETCH_SECONDS="0")
    old, new = Signer("RS256"), Signer("ES256")
    jwks.keys = [old.jwk]
    assert await _usage_status(client, old.token()) == (200, "")
    assert jwks.hits == 1
    # The provider rotates: the new kid is not cached, so the set is fetched again.
    jwks.keys = [new.jwk]
    assert await _usage_status(client, new.token()) == (200, "")
    assert jwks.hits == 2
    assert await _usage_status(client, new.token()) == (200, "")
    assert jwks.hits == 2
    # The old key is gone from the set: its tokens are refused.
    assert await _usage_status(client, old.token()) == (401, "invalid_token")


async def test_a_flood_of_unknown_kids_fetches_the_key_set_at_most_once(
    client: httpx.AsyncClient, jwks: Jwks, oidc: pytest.MonkeyPatch
) -> None:
    signer = Signer("RS256")
    jwks.keys = [signer.jwk]
    assert await _usage_status(client, signer.token()) == (200, "")
    for _ in range(20):
        forged = signer.token(headers={"kid": uuid.uuid4().hex})
        assert await _usage_status(client, forged) == (401, "invalid_token")
    # Within ANALYTICS_JWKS_MIN_REFETCH_SECONDS (30 s by default) no refetch: one fetch in all.
    assert jwks.hits == 1
    assert await _usage_status(client, signer.token()) == (200, "")


async def test_a_token_without_kid_is_401(
    client: httpx.AsyncClient, jwks: Jwks, oidc: pytest.MonkeyPatch
) -> None:
    signer = Signer("RS256")
    jwks.keys = [signer.jwk]
    r = await client.get(USAGE, headers=auth(signer.token(headers={})))
    assert r.status_code == 401
    assert r.json()["error"] == "invalid_token"
    assert "kid" in r.json()["message"]
    r = await client.post("/graphql", json=GRAPHQL_USAGE, headers=auth(signer.token(headers={})))
    assert r.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


@pytest.mark.parametrize(
    ("claims", "word"),
    [
        (
            {
                "exp": datetime.now(UTC) - timedelta(minutes=5),
                "iat": datetime.now(UTC) - timedelta(minutes=15),
            },
            "expired",
        ),
        ({"aud": "another-api"}, "audience"),
        ({"iss": "https://evil.example.test"}, "issuer"),
        ({"exp": datetime.now(UTC) + timedelta(days=30)}, "lifetime"),
        ({"exp": "9999999999"}, ""),
    ],
    ids=["expired", "wrong-aud", "wrong-iss", "too-long-lived", "string-exp"],
)
async def test_claims_are_checked_on_oidc_tokens(
    client: httpx.AsyncClient, jwks: Jwks, oidc: pytest.MonkeyPatch, claims: dict[str, Any], word: str
) -> None:
    signer = Signer("ES256")
    jwks.keys = [signer.jwk]
    r = await client.get(USAGE, headers=auth(signer.token(**claims)))
    assert r.status_code == 401
    assert r.json()["error"] == "invalid_token"
    assert word in r.json()["message"]


async def test_a_token_signed_by_another_key_with_a_known_kid_is_401(
    client: httpx.AsyncClient, jwks: Jwks, oidc: pytest.MonkeyPatch
) -> None:
    signer = Signer("RS256")
    impostor = Signer("RS256", kid=signer.kid)
    jwks.keys = [signer.jwk]
    assert await _usage_status(client, impostor.token()) == (401, "invalid_token")


async def test_algorithm_confusion_is_refused(
    client: httpx.AsyncClient, jwks: Jwks, oidc: pytest.MonkeyPatch
) -> None:
    """An HS256 token whose secret is the provider's public key (which anyone can fetch)."""
    signer = Signer("RS256")
    jwks.keys = [signer.jwk]
    now = datetime.now(UTC)
    claims = {"iss": ISSUER, "aud": AUDIENCE, "exp": now + timedelta(minutes=5), "roles": ["admin"]}
    for secret in (signer.public_pem(), json.dumps(signer.jwk).encode()):
        # PyJWT refuses a PEM as an HMAC secret; sign by hand as an attacker would.
        forged = _hs256(claims, secret, kid=signer.kid)
        assert await _usage_status(client, forged) == (401, "invalid_token")
    # An RS256 header on an ES256 key (and the reverse) does not verify either.
    es = Signer("ES256")
    jwks.keys = [signer.jwk, es.jwk]
    confused = es.token(headers={"kid": signer.kid})  # ES256 signature, RSA key named
    assert await _usage_status(client, confused) == (401, "invalid_token")
    # `alg: none` never.
    unsigned = jwt.encode(claims, key="", algorithm="none", headers={"kid": signer.kid})
    assert await _usage_status(client, unsigned) == (401, "invalid_token")


def _hs256(claims: dict[str, Any], secret: bytes, kid: str) -> str:
    import base64
    import hashlib
    import hmac

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    body = {k: int(v.timestamp()) if isinstance(v, datetime) else v for k, v in claims.items()}
    signing_input = (
        b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": kid}).encode())
        + "."
        + b64(json.dumps(body).encode())
    )
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + b64(signature)


async def test_an_unreachable_jwks_is_401_and_logged(
    client: httpx.AsyncClient, oidc: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # A port that was just free: nothing listens there.
    closed = Jwks()
    url = closed.url
    closed.close()
    _reconfigure(oidc, ANALYTICS_JWKS_URL=url)
    signer = Signer("RS256")
    with caplog.at_level(logging.WARNING, logger="app.oidc"):
        r = await client.get(USAGE, headers=auth(signer.token()))
        assert r.status_code == 401
        assert r.json()["error"] == "invalid_token"
        r = await client.post("/graphql", json=GRAPHQL_USAGE, headers=auth(signer.token()))
        assert r.status_code == 200
        assert r.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert any("JWKS fetch" in rec.getMessage() and url in rec.getMessage() for rec in caplog.records)


async def test_hs256_botserver_tokens_still_work_beside_oidc(
    client: httpx.AsyncClient, jwks: Jwks, oidc: pytest.MonkeyPatch
) -> None:
    from tests.factories import bearer

    assert (await client.get(USAGE, headers=bearer(["analytics_viewer"]))).status_code == 200
    assert jwks.hits == 0


def test_asymmetric_algorithms_need_a_jwks_url(monkeypatch: pytest.MonkeyPatch) -> None:
    from pydantic import ValidationError

    from app.config import Settings

    monkeypatch.delenv("ANALYTICS_JWKS_URL", raising=False)
    with pytest.raises(ValidationError, match="ANALYTICS_JWKS_URL"):
        Settings(jwt_algorithms=["HS256", "RS256"])
    with pytest.raises(ValidationError, match="unsupported"):
        Settings(jwt_algorithms=["HS256", "XY256"])


async def test_concurrent_tokens_with_a_new_kid_share_one_fetch(
    client: httpx.AsyncClient, jwks: Jwks, oidc: pytest.MonkeyPatch
) -> None:
    import asyncio

    _reconfigure(oidc, ANALYTICS_JWKS_MIN_REFETCH_SECONDS="0")
    old, new = Signer("RS256"), Signer("RS256")
    jwks.keys = [old.jwk]
    assert await _usage_status(client, old.token()) == (200, "")
    jwks.keys = [old.jwk, new.jwk]
    answers = await asyncio.gather(*(_usage_status(client, new.token()) for _ in range(8)))
    assert answers == [(200, "")] * 8
    assert jwks.hits == 2


async def test_a_failed_refresh_keeps_the_cached_keys(
    client: httpx.AsyncClient, jwks: Jwks, oidc: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from app.oidc import jwks_cache_for

    now = [1000.0]
    jwks_cache_for(get_settings()).clock = lambda: now[0]
    signer = Signer("ES256")
    jwks.keys = [signer.jwk]
    assert await _usage_status(client, signer.token()) == (200, "")
    jwks.close()
    now[0] += 601  # past ANALYTICS_JWKS_CACHE_SECONDS (600)
    with caplog.at_level(logging.WARNING, logger="app.oidc"):
        assert await _usage_status(client, signer.token()) == (200, "")
    assert any("JWKS fetch" in rec.getMessage() for rec in caplog.records)
    # A kid never seen is still refused: nothing to check it against.
    assert await _usage_status(client, Signer("ES256").token()) == (401, "invalid_token")
