"""OIDC: signing keys of an identity provider (RS256/ES256 tokens) from `ANALYTICS_JWKS_URL`.

The key set is fetched off the event loop (a worker thread), cached for `ANALYTICS_JWKS_CACHE_SECONDS`,
and fetched again when a token names a `kid` the cache does not hold (key rotation) — at most once per
`ANALYTICS_JWKS_MIN_REFETCH_SECONDS`, so a flood of random kids cannot make the service hammer the
provider. Concurrent callers share one fetch. See docs/decisions.md "OIDC".
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import urllib.request
from collections.abc import Callable
from typing import Any

import jwt

from app.config import Settings
from app.errors import InvalidToken

__all__ = ["ASYMMETRIC_FAMILIES", "JwksCache", "jwks_cache_for", "reset_jwks_caches", "signing_key"]

log = logging.getLogger("app.oidc")

# Token algorithm prefix -> the JWK key type that may verify it. An HS* token never reaches a JWKS
# key, and a JWKS key of another type (an `oct` secret) never verifies an asymmetric token.
ASYMMETRIC_FAMILIES = {"RS": "RSA", "PS": "RSA", "ES": "EC"}
MAX_JWKS_BYTES = 512 * 1024


def key_type_for(alg: str) -> str | None:
    """The JWK `kty` that verifies `alg`, or None when `alg` is not asymmetric."""
    return ASYMMETRIC_FAMILIES.get(alg[:2]) if len(alg) == 5 and alg[2:].isdigit() else None


def _fetch_jwks(url: str, timeout: float) -> dict[str, Any]:
    """GET the key set (blocking: run it in a thread)."""
    if not url.startswith(("https://", "http://")):
        raise ValueError("ANALYTICS_JWKS_URL must be an http(s) URL")
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        body = response.read(MAX_JWKS_BYTES + 1)
    if len(body) > MAX_JWKS_BYTES:
        raise ValueError(f"JWKS larger than {MAX_JWKS_BYTES} bytes")
    data = json.loads(body)
    if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
        raise ValueError("JWKS has no 'keys' list")
    return data


def _parse_keys(data: dict[str, Any]) -> dict[str, jwt.PyJWK]:
    """Usable signing keys by `kid`; keys without a kid, of unknown type or meant for encryption are
    skipped (one bad key does not hide the others)."""
    keys: dict[str, jwt.PyJWK] = {}
    for entry in data["keys"]:
        if not isinstance(entry, dict) or not isinstance(entry.get("kid"), str):
            continue
        if entry.get("use", "sig") != "sig" or entry.get("kty") not in ("RSA", "EC"):
            continue
        try:
            keys[entry["kid"]] = jwt.PyJWK(entry)
        except jwt.PyJWTError:
            log.warning("JWKS key %s skipped: not a usable signing key", entry["kid"][:64])
    return keys


class JwksCache:
    """The keys of one JWKS URL, with a TTL and rate-limited refetches for unknown kids."""

    def __init__(
        self,
        url: str,
        ttl_seconds: float,
        min_refetch_seconds: float,
        timeout_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self.ttl_seconds = ttl_seconds
        self.min_refetch_seconds = min_refetch_seconds
        self.timeout_seconds = timeout_seconds
        self.clock = clock
        self.keys: dict[str, jwt.PyJWK] = {}
        self.fetched_at: float | None = None
        """When the last fetch was tried (successful or not), by `clock`."""
        self.loaded_at: float | None = None
        """When the keys were last loaded successfully."""
        self.fetches = 0
        self._lock = asyncio.Lock()

    def _may_refetch(self, now: float) -> bool:
        return self.fetched_at is None or now - self.fetched_at >= self.min_refetch_seconds

    def _stale(self, now: float) -> bool:
        return self.loaded_at is None or now - self.loaded_at >= self.ttl_seconds

    async def _refresh(self) -> None:
        self.fetched_at = self.clock()
        self.fetches += 1
        try:
            data = await asyncio.to_thread(_fetch_jwks, self.url, self.timeout_seconds)
            keys = _parse_keys(data)
        except Exception as exc:
            log.warning("JWKS fetch from %s failed: %s", self.url, f"{type(exc).__name__}: {exc}"[:300])
            return
        self.keys = keys
        self.loaded_at = self.clock()

    async def key_for(self, kid: str) -> jwt.PyJWK:
        """The key named `kid`; fetches when the cache is stale, or once more for an unknown kid."""
        if not self._stale(self.clock()) and kid in self.keys:
            return self.keys[kid]
        async with self._lock:
            now = self.clock()
            # Another caller may have fetched while this one waited for the lock.
            if self._stale(now) and self._may_refetch(now):
                await self._refresh()
            elif kid not in self.keys and self._may_refetch(now):
                await self._refresh()
        if kid in self.keys:
            # A stale set whose refresh failed still serves: the provider being down for a moment
            # should not log every user out (the keys were valid when fetched).
            return self.keys[kid]
        if self.loaded_at is None:
            raise InvalidToken("the identity provider's signing keys are unavailable")
        raise InvalidToken("token signing key (kid) is not known")


_caches: dict[tuple[str, float, float, float], JwksCache] = {}


def jwks_cache_for(settings: Settings) -> JwksCache:
    """One cache per process and JWKS configuration."""
    assert settings.jwks_url
    key = (
        settings.jwks_url,
        settings.jwks_cache_seconds,
        settings.jwks_min_refetch_seconds,
        settings.jwks_timeout_seconds,
    )
    cache = _caches.get(key)
    if cache is None:
        cache = JwksCache(*key)
        _caches[key] = cache
    return cache


def reset_jwks_caches() -> None:
    """Forget every cached key set (tests)."""
    _caches.clear()


async def signing_key(header: dict[str, Any], alg: str, settings: Settings) -> Any:
    """The public key that verifies an asymmetric token with this header."""
    if not settings.jwks_url:
        raise InvalidToken(f"token algorithm {alg} is not accepted (no ANALYTICS_JWKS_URL)")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise InvalidToken("token header must name its signing key (kid)")
    if len(kid) > 256:
        raise InvalidToken("token signing key (kid) is not known")
    jwk = await jwks_cache_for(settings).key_for(kid)
    kty = jwk._jwk_data.get("kty")
    declared = jwk._jwk_data.get("alg")
    if (
        kty != key_type_for(alg)
        or (declared is not None and declared != alg)
        or (kty == "EC" and jwk.algorithm_name != alg)  # the curve fixes the algorithm
    ):
        raise InvalidToken(f"token algorithm {alg} does not match its signing key")
    return jwk.key
