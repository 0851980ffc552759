"""Credentials to a Principal: API keys (stored hashed), HS256 JWTs from the botserver, and RS/ES JWTs
from an OIDC identity provider (keys from ANALYTICS_JWKS_URL, app/oidc.py)."""

from __future__ import annotations

import hashlib
import math
import secrets
import time
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt

from app.config import Settings
from app.errors import Forbidden, InvalidParameter, InvalidToken, MissingToken
from app.models import ApiKey
from app.oidc import key_type_for, signing_key
from app.vocabulary import normalise_uuid

__all__ = [
    "KNOWN_ROLES",
    "Principal",
    "authenticate",
    "create_api_key",
    "hash_api_key",
    "mint_token",
    "still_valid",
]

READ_ROLES = frozenset({"analytics_viewer", "analytics_admin", "admin"})
REPORT_ROLES = frozenset({"analytics_admin", "admin"})
INGEST_ROLES = frozenset({"analytics_ingest", "admin"})
KEY_ADMIN_ROLES = frozenset({"admin"})
KNOWN_ROLES = ("analytics_viewer", "analytics_admin", "analytics_ingest", "admin")
API_KEY_PREFIX = "ba_"


@dataclass(frozen=True)
class Principal:
    """Who is calling: roles and, when scoped, the bots (UUID strings) it may see."""

    subject: str
    roles: frozenset[str]
    bot_scope: frozenset[str] | None = None
    kind: str = "jwt"
    extra: Mapping[str, Any] = field(default_factory=dict)
    expires_at: float | None = None
    """A JWT's `exp` (seconds since the epoch); None for an API key."""
    key_id: int | None = None
    """An API key's id; None for a JWT."""

    def has_any(self, allowed: Iterable[str]) -> bool:
        return bool(self.roles & frozenset(allowed))

    def require(self, allowed: frozenset[str], what: str) -> None:
        if not self.has_any(allowed):
            raise Forbidden(f"{what} needs one of the roles: {', '.join(sorted(allowed))}")

    def require_key_admin(self) -> None:
        self.require(KEY_ADMIN_ROLES, "managing API keys")

    def may_see_bot(self, bot_id: str) -> bool:
        return self.bot_scope is None or bot_id in self.bot_scope

    def check_bot(self, bot_id: str | None, field_name: str = "bot_id") -> None:
        """403 when a scoped caller names a bot outside its scope."""
        if bot_id is not None and not self.may_see_bot(bot_id):
            raise Forbidden(f"{field_name} {bot_id} is outside this credential's bot scope")

    def bots_for(self, bot_id: str | None) -> frozenset[str] | None:
        """The bots a query covers: the named one, else the scope (None means every bot)."""
        self.check_bot(bot_id)
        if bot_id is not None:
            return frozenset({bot_id})
        return self.bot_scope


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _normalise_uuids(values: Iterable[Any]) -> frozenset[str]:
    return frozenset(normalise_uuid(str(v), "bot_ids") for v in values)


async def create_api_key(name: str, roles: list[str], bot_ids: list[str] | None) -> tuple[str, ApiKey]:
    """Create a key; the plain key is returned once and never stored."""
    plain = API_KEY_PREFIX + secrets.token_urlsafe(32)
    scope = sorted(_normalise_uuids(bot_ids)) if bot_ids is not None else None
    row = await ApiKey.create(
        name=name, prefix=plain[:10], key_hash=hash_api_key(plain), roles=sorted(set(roles)), bot_ids=scope
    )
    return plain, row


def mint_token(
    settings: Settings,
    roles: list[str],
    bot_ids: list[str] | None = None,
    ttl_minutes: int = 60,
    subject: str = "cli",
) -> str:
    """Mint an HS256 JWT the way the botserver does (used by the CLI, demo and tests)."""
    now = datetime.now(UTC)
    claims: dict[str, Any] = {
        "sub": subject,
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "iat": now,
        "exp": now + timedelta(minutes=ttl_minutes),
        "roles": roles,
    }
    if bot_ids is not None:
        claims["bot_ids"] = bot_ids
    return jwt.encode(claims, settings.jwt_secret, algorithm="HS256")


async def _from_api_key(key: str) -> Principal:
    row = await ApiKey.get_or_none(key_hash=hash_api_key(key))
    if row is None or row.revoked_at is not None:
        raise InvalidToken("unknown or revoked API key")
    scope = frozenset(row.bot_ids) if row.bot_ids is not None else None
    return Principal(
        subject=f"key:{row.id}", roles=frozenset(row.roles), bot_scope=scope, kind="api_key", key_id=row.id
    )


def _numeric_date(claims: Mapping[str, Any], name: str) -> float | None:
    """A NumericDate claim (RFC 7519: a JSON number of seconds), None when absent; anything else
    (a string, a boolean, an infinity) makes the token invalid."""
    if name not in claims:
        return None
    value = claims[name]
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidToken(f"{name} claim must be a number of seconds")
    return float(value)


def _check_lifetime(claims: Mapping[str, Any], settings: Settings) -> float:
    """`exp` is a number at most ANALYTICS_JWT_MAX_LIFETIME_MINUTES after `iat` and after now:
    a token cannot be made to live for ever (a string `exp`, or `1e30`)."""
    exp = _numeric_date(claims, "exp")
    iat = _numeric_date(claims, "iat")
    assert exp is not None  # required by jwt.decode
    longest = settings.jwt_max_lifetime_minutes * 60
    if exp - time.time() > longest or (iat is not None and exp - iat > longest):
        raise InvalidToken(
            f"token lifetime exceeds the maximum of {settings.jwt_max_lifetime_minutes} minutes"
        )
    return exp


def _roles_from(claims: Mapping[str, Any], claim: str) -> frozenset[str]:
    """Roles from the configured claim: a list of strings, or an object whose keys are role names
    (Zitadel's `urn:zitadel:iam:org:project:roles`). The claim is looked up by its whole name first,
    then as a dotted path (`realm_access.roles`). Absent means no roles."""
    value: Any = claims.get(claim)
    if claim not in claims and "." in claim:
        value = claims
        for part in claim.split("."):
            value = value.get(part) if isinstance(value, Mapping) else None
    if value is None:
        return frozenset()
    if isinstance(value, Mapping):
        return frozenset(k for k in value if isinstance(k, str))
    if isinstance(value, list):
        return frozenset(r for r in value if isinstance(r, str))
    raise InvalidToken(f"{claim} claim must be a list of strings or an object keyed by role")


async def _verification_key(token: str, settings: Settings) -> tuple[str, Any]:
    """The token's algorithm (one of ANALYTICS_JWT_ALGORITHMS) and the key that must verify it:
    the shared secret for HS*, the identity provider's key named by `kid` for RS/PS/ES. Never the
    other way round: an HS256 token is not checked against a public key (algorithm confusion)."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise InvalidToken("malformed token") from None
    alg = str(header.get("alg", ""))
    allowed = [a for a in settings.jwt_algorithms if a.lower() != "none"]
    if alg not in allowed:
        raise InvalidToken(f"token algorithm {alg or 'none'} is not accepted")
    if key_type_for(alg) is None:
        return alg, settings.jwt_secret
    return alg, await signing_key(header, alg, settings)


_VERIFIED_MAX = 4096
_verified: OrderedDict[tuple[str, tuple[Any, ...]], Principal] = OrderedDict()
"""HS* tokens verified before, by token and the settings that judged them (most recent last).

A token is verified once per process instead of on every request (a dashboard sends the same one
many times a minute): the same bytes under the same secret, issuer, audience, algorithms, roles
claim and maximum lifetime always verify the same way, except for `exp`, which is checked again
on every use. Provider (RS/PS/ES) tokens are not kept: their keys rotate."""


def _verdict_key(token: str, settings: Settings) -> tuple[str, tuple[Any, ...]]:
    return token, (
        settings.jwt_secret,
        settings.jwt_issuer,
        settings.jwt_audience,
        tuple(settings.jwt_algorithms),
        settings.jwt_roles_claim,
        settings.jwt_max_lifetime_minutes,
    )


async def _from_jwt(token: str, settings: Settings) -> Principal:
    key_of_token = _verdict_key(token, settings)
    known = _verified.get(key_of_token)
    if known is not None:
        assert known.expires_at is not None
        if time.time() < known.expires_at:
            return known
        del _verified[key_of_token]
        raise InvalidToken("token expired")
    principal = await _verify_jwt(token, settings)
    if principal.kind == "jwt" and key_type_for(_unverified_alg(token)) is None:
        _verified[key_of_token] = principal
        if len(_verified) > _VERIFIED_MAX:
            _verified.popitem(last=False)
    return principal


def _unverified_alg(token: str) -> str:
    return str(jwt.get_unverified_header(token).get("alg", ""))


async def _verify_jwt(token: str, settings: Settings) -> Principal:
    alg, key = await _verification_key(token, settings)
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=[alg],
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            options={"require": ["exp", "iss", "aud"]},
        )
    except jwt.ExpiredSignatureError:
        raise InvalidToken("token expired") from None
    except jwt.InvalidIssuerError:
        raise InvalidToken("token issuer is not accepted") from None
    except jwt.InvalidAudienceError:
        raise InvalidToken("token audience is not accepted") from None
    except jwt.PyJWTError:
        raise InvalidToken("invalid token") from None
    expires_at = _check_lifetime(claims, settings)
    roles = _roles_from(claims, settings.jwt_roles_claim)
    scope: frozenset[str] | None = None
    if "bot_ids" in claims:
        raw = claims["bot_ids"]
        if not isinstance(raw, list):
            raise InvalidToken("bot_ids claim must be a list of UUIDs")
        try:
            scope = _normalise_uuids(raw)
        except InvalidParameter:
            raise InvalidToken("bot_ids claim must be a list of UUIDs") from None
    return Principal(
        subject=str(claims.get("sub", "")),
        roles=roles,
        bot_scope=scope,
        kind="jwt",
        expires_at=expires_at,
    )


async def authenticate(api_key: str | None, authorization: str | None, settings: Settings) -> Principal:
    """API.md section 1: X-API-Key first, then Bearer JWT. Any present-but-bad credential is 401."""
    jwt_principal: Principal | None = None
    if authorization is not None:
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise InvalidToken("Authorization must be 'Bearer <token>'")
        jwt_principal = await _from_jwt(token.strip(), settings)
    if api_key is not None:
        if not api_key.strip():
            raise InvalidToken("empty API key")
        return await _from_api_key(api_key.strip())
    if jwt_principal is not None:
        return jwt_principal
    raise MissingToken("credentials required: X-API-Key or Authorization: Bearer <token>")


async def still_valid(principal: Principal) -> bool:
    """Whether a credential accepted earlier still holds: a JWT until its `exp`, an API key until it
    is revoked (one indexed read). Long-lived connections ask this before each push."""
    if principal.expires_at is not None and time.time() >= principal.expires_at:
        return False
    if principal.key_id is not None:
        return await ApiKey.filter(id=principal.key_id, revoked_at=None).exists()
    return True
