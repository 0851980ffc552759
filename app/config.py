"""Settings from the environment (prefix ``ANALYTICS_``), one object for the whole service."""

from __future__ import annotations

import os
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings", "WeakSecretError", "get_settings", "load_dev_secret"]

DATA_DIR = Path("data")
MIN_SECRET_BYTES = 32
_JWT_ALGORITHMS = (
    *("HS256", "HS384", "HS512"),
    *("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"),
)
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class WeakSecretError(ValueError):
    """Raised when production mode is asked to start with a missing or short JWT secret."""


class Settings(BaseSettings):
    """Every knob of the service; see README 'Configuration'."""

    model_config = SettingsConfigDict(env_prefix="ANALYTICS_", extra="ignore")

    env: Literal["development", "production", "test"] = "development"
    database_url: str = f"sqlite://{DATA_DIR}/analytics.sqlite3"
    jwt_secret: str = ""
    jwt_issuer: str = "general-bots"
    jwt_audience: str = "general-bots-api"
    jwt_algorithms: list[str] = Field(default_factory=lambda: ["HS256"])
    # A token's `exp` may lie at most this far after its `iat` and after now (docs/decisions.md).
    jwt_max_lifetime_minutes: int = Field(default=24 * 60, ge=1, le=366 * 24 * 60)
    # OIDC (issue 10; app/oidc.py, README "Security", docs/decisions.md "OIDC"): RS*/ES* tokens are
    # verified with the identity provider's keys from this JWKS URL; roles come from this claim (a list
    # of strings, or an object whose keys are role names, as Zitadel's; a dotted path reaches inside).
    jwks_url: str = ""
    jwks_cache_seconds: float = Field(default=600.0, ge=1, le=7 * 24 * 3600)
    jwks_min_refetch_seconds: float = Field(default=30.0, ge=0, le=3600)
    jwks_timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    jwt_roles_claim: str = Field(default="roles", min_length=1)
    host: str = "127.0.0.1"
    port: int = 9000
    session_timeout_minutes: int = Field(default=30, ge=1, le=24 * 60)
    reports_dir: Path = DATA_DIR / "reports"
    # Render processes; the default leaves one core to the API so it keeps answering while PDFs render.
    report_workers: int = Field(default_factory=lambda: max(1, (os.cpu_count() or 2) - 1), ge=1, le=16)
    max_body_bytes: int = 1024 * 1024
    # Request heads under `serve` (server/http_limits.py; docs/decisions.md): larger or slower is refused.
    http_max_header_bytes: int = Field(default=32 * 1024, ge=1024, le=1024 * 1024)
    http_max_headers: int = Field(default=100, ge=10, le=10_000)
    http_header_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    http_keep_alive_seconds: int = Field(default=5, ge=1, le=300)
    # WebSocket subscriptions (server/graphql.py; docs/decisions.md).
    ws_max_subscriptions_per_connection: int = Field(default=10, ge=1, le=1000)
    ws_max_subscriptions_per_credential: int = Field(default=50, ge=1, le=100_000)
    ws_ping_seconds: float = Field(default=20.0, gt=0, le=600)
    ws_send_timeout_seconds: float = Field(default=10.0, gt=0, le=600)
    max_query_depth: int = Field(default=12, ge=1)
    # A GraphQL document's cost (graphql_schema/cost.py; app/limits.py): its fields' buckets summed
    # over aliases and fragments, worked out before it runs. The default lets one field of the
    # widest range (10,000 buckets) and a dashboard beside it through.
    max_query_cost: int = Field(default=20_000, ge=1)
    query_cache_seconds: float = Field(default=2.0, ge=0, le=300)
    # PostgreSQL: seconds between two looks for tables to ANALYZE (app/pg_stats.py; 0: never).
    pg_analyze_seconds: float = Field(default=5.0, ge=0, le=3600)
    log_level: str = "INFO"

    # Operations (issue 10): rate limits, logs, metrics, proxies, shutdown. See README "Security"
    # and "Operations". `None` means: on in production, off in development and test.
    rate_limit_enabled: bool | None = None
    rate_limit_per_address_per_minute: int = Field(default=1200, ge=1)
    rate_limit_per_credential_per_minute: int = Field(default=3000, ge=1)
    rate_limit_burst_per_second: int = Field(default=100, ge=1)
    log_format: Literal["json", "text"] | None = None
    log_max_value_chars: int = Field(default=2000, ge=80)
    forwarded_allow_ips: str = "127.0.0.1"
    shutdown_timeout_seconds: float = Field(default=30.0, gt=0)

    @field_validator("log_level")
    @classmethod
    def _known_log_level(cls, value: str) -> str:
        level = value.upper()
        if level not in _LOG_LEVELS:
            raise ValueError(f"log_level must be one of {', '.join(_LOG_LEVELS)}")
        return level

    @model_validator(mode="after")
    def _refuse_weak_secret_in_production(self) -> Settings:
        if self.env == "production" and len(self.jwt_secret.encode()) < MIN_SECRET_BYTES:
            raise WeakSecretError(
                "ANALYTICS_JWT_SECRET must be set to at least 32 bytes when ANALYTICS_ENV=production"
            )
        if "none" in {a.lower() for a in self.jwt_algorithms}:
            raise WeakSecretError("ANALYTICS_JWT_ALGORITHMS may not contain 'none'")
        unknown = [a for a in self.jwt_algorithms if a not in _JWT_ALGORITHMS]
        if unknown:
            raise ValueError(f"ANALYTICS_JWT_ALGORITHMS: unsupported {', '.join(unknown)}")
        if not self.jwks_url and any(not a.startswith("HS") for a in self.jwt_algorithms):
            raise ValueError("ANALYTICS_JWT_ALGORITHMS names RS/PS/ES algorithms: set ANALYTICS_JWKS_URL")
        return self

    @property
    def rate_limits_on(self) -> bool:
        """Rate limits apply: as configured, or by default in production only."""
        return self.rate_limit_enabled if self.rate_limit_enabled is not None else self.env == "production"

    @property
    def json_logs(self) -> bool:
        """Log lines are JSON: as configured, or by default in production only."""
        return (self.log_format or ("json" if self.env == "production" else "text")) == "json"

    @property
    def session_timeout_us(self) -> int:
        return self.session_timeout_minutes * 60 * 1_000_000


def load_dev_secret(path: Path = DATA_DIR / "jwt-secret") -> str:
    """Return the development secret kept under data/, creating it once."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48)
    path.write_text(value)
    path.chmod(0o600)
    return value


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings; in development a missing secret is created under data/."""
    settings = Settings()
    if not settings.jwt_secret and settings.env != "production":
        settings = settings.model_copy(update={"jwt_secret": load_dev_secret()})
    return settings
