"""The `bot-analytics` command: serve, migrate, token, apikey, demo-data, dev."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from datetime import UTC, datetime

from pydantic import ValidationError

from app.auth import KNOWN_ROLES, create_api_key, mint_token
from app.config import Settings, get_settings
from app.db import close_db, init_db, migrate_db
from app.errors import InvalidParameter
from app.vocabulary import normalise_uuid

__all__ = ["main"]


def _settings() -> Settings:
    try:
        return get_settings()
    except ValidationError as exc:
        for err in exc.errors():
            where = ".".join(str(p) for p in err.get("loc", ()))
            print(
                f"error: {where + ': ' if where else ''}{err['msg'].removeprefix('Value error, ')}",
                file=sys.stderr,
            )
        raise SystemExit(2) from None


def _uuid_arg(value: str) -> str:
    try:
        return normalise_uuid(value, "bot")
    except InvalidParameter:
        raise argparse.ArgumentTypeError(f"not a UUID: {value}") from None


async def _load_demo(settings: Settings, if_empty: bool) -> int:
    from app.auth import Principal
    from app.demo import demo_events
    from app.ingest import ingest_events
    from app.models import Event

    await init_db(settings.database_url)
    try:
        if if_empty and await Event.all().limit(1).exists():
            print("database already has events: demo data not loaded")
            return 0
        loader = Principal(subject="demo", roles=frozenset({"admin"}))
        batch: list[dict[str, object]] = []
        total = 0
        for ev in demo_events():
            batch.append(ev)
            if len(batch) == 1000:
                total += (await ingest_events(batch, loader)).accepted
                batch = []
                print(f"\rloading demo data: {total} events", end="", flush=True)
        if batch:
            total += (await ingest_events(batch, loader)).accepted
        print(f"\rloaded {total} demo events{' ' * 10}")
        return total
    finally:
        await close_db()


async def _apikey(settings: Settings, args: argparse.Namespace) -> int:
    from app.models import ApiKey

    await init_db(settings.database_url)
    try:
        if args.action == "create":
            plain, row = await create_api_key(args.name, args.role, args.bot)
            print(f"created key {row.id} ({row.name}); shown once, store it now:\n{plain}")
        elif args.action == "list":
            for key in await ApiKey.all().order_by("id"):
                state = f"revoked {key.revoked_at:%Y-%m-%d}" if key.revoked_at else "active"
                bots = ",".join(key.bot_ids) if key.bot_ids is not None else "all bots"
                print(f"{key.id}\t{key.name}\t{key.prefix}…\t{','.join(key.roles)}\t{bots}\t{state}")
        else:
            count = await ApiKey.filter(id=args.id, revoked_at=None).update(revoked_at=datetime.now(UTC))
            if not count:
                print(f"no active key with id {args.id}", file=sys.stderr)
                return 1
            print(f"revoked key {args.id}")
        return 0
    finally:
        await close_db()


def _serve(settings: Settings) -> None:
    from server.app import create_app
    from server.http_limits import HeadLimits, bounded_protocol
    from server.shutdown import serve

    # Logging (text or JSON, request ids, redaction) is set up by `serve` (server/logs.py).

    limits = HeadLimits(
        settings.http_max_header_bytes, settings.http_max_headers, settings.http_header_timeout_seconds
    )
    serve(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        # Heads bounded in size, count and time; idle kept-alive connections closed (README "Limits").
        http=bounded_protocol(limits),
        timeout_keep_alive=settings.http_keep_alive_seconds,
        # A WebSocket message is a GraphQL operation: no larger than an HTTP body may be.
        ws_max_size=settings.max_body_bytes,
        # A WebSocket client that does not answer a ping within the interval is closed.
        ws_ping_interval=settings.ws_ping_seconds,
        ws_ping_timeout=settings.ws_ping_seconds,
    )


DASHBOARD_LINK_MINUTES = 60
"""How long the token in a printed dashboard link lives (a link ends up in shell history)."""


def dashboard_link(settings: Settings, token: str) -> str:
    """The dashboard's URL with `token` in the fragment: browsers never send a fragment to a server or
    in a Referer, and the page removes it from the address bar once read."""
    return f"http://{settings.host}:{settings.port}/dashboard#token={token}"


def _print_welcome(settings: Settings) -> None:
    # As long as a token may live (ANALYTICS_JWT_MAX_LIFETIME_MINUTES, default 24 hours).
    ttl = settings.jwt_max_lifetime_minutes
    viewer = mint_token(settings, ["analytics_viewer"], ttl_minutes=ttl, subject="demo-viewer")
    admin = mint_token(settings, ["admin"], ttl_minutes=ttl, subject="demo-admin")
    lifetime = f"{ttl // 60} hours" if ttl % 60 == 0 else f"{ttl} minutes"
    base = f"http://{settings.host}:{settings.port}"
    link_token = mint_token(
        settings, ["analytics_viewer"], ttl_minutes=min(ttl, DASHBOARD_LINK_MINUTES), subject="demo-dashboard"
    )
    print(
        f"""
bot-analytics is starting on {base}

  viewer token ({lifetime}): {viewer}
  admin token  ({lifetime}): {admin}

  dashboard: {dashboard_link(settings, link_token)}
             (a viewer for {min(ttl, DASHBOARD_LINK_MINUTES)} minutes; then paste a token above)
  GraphiQL:  {base}/graphql   (add the header Authorization: Bearer <token>)
  API docs:  {base}/docs
  try:       curl -H "Authorization: Bearer {viewer}" {base}/api/v1/analytics/usage
"""
    )


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bot-analytics", description="Analytics service of the bot platform")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", help="serve the API (migrates first)")
    sub.add_parser("migrate", help="apply database migrations")
    dev = sub.add_parser("dev", help="migrate, load demo data into an empty database, print tokens, serve")
    dev.add_argument("--no-serve", action="store_true", help="stop after printing the tokens")
    tok = sub.add_parser("token", help="mint a JWT with the configured secret")
    tok.add_argument(
        "--role",
        action="append",
        choices=KNOWN_ROLES,
        help="repeatable (--dashboard: analytics_viewer if none)",
    )
    tok.add_argument("--bot", action="append", type=_uuid_arg, help="limit to this bot (repeatable)")
    tok.add_argument("--ttl", type=int, default=60, help="minutes (default 60)")
    tok.add_argument(
        "--dashboard", action="store_true", help="print a sign-in link to /dashboard carrying the token"
    )
    key = sub.add_parser("apikey", help="manage API keys")
    ksub = key.add_subparsers(dest="action", required=True)
    kc = ksub.add_parser("create")
    kc.add_argument("--name", required=True)
    kc.add_argument("--role", action="append", required=True, choices=KNOWN_ROLES)
    kc.add_argument("--bot", action="append", type=_uuid_arg, help="limit to this bot (repeatable)")
    ksub.add_parser("list")
    kr = ksub.add_parser("revoke")
    kr.add_argument("id", type=int)
    demo = sub.add_parser("demo-data", help="load 90 days of demo data")
    demo.add_argument("--if-empty", action="store_true", help="only into a database without events")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = _settings()
    if args.command == "serve":
        _serve(settings)
    elif args.command == "migrate":
        asyncio.run(migrate_db(settings.database_url))
        print("database is up to date")
    elif args.command == "dev":
        asyncio.run(_load_demo(settings, if_empty=True))
        _print_welcome(settings)
        if not args.no_serve:
            _serve(settings)
    elif args.command == "token":
        if not 1 <= args.ttl <= settings.jwt_max_lifetime_minutes:
            print(
                f"error: --ttl must be from 1 to {settings.jwt_max_lifetime_minutes} minutes"
                " (ANALYTICS_JWT_MAX_LIFETIME_MINUTES)",
                file=sys.stderr,
            )
            return 2
        roles = args.role or (["analytics_viewer"] if args.dashboard else None)
        if roles is None:
            print("error: --role is required (or --dashboard)", file=sys.stderr)
            return 2
        token = mint_token(settings, roles, args.bot, ttl_minutes=args.ttl)
        print(dashboard_link(settings, token) if args.dashboard else token)
    elif args.command == "apikey":
        return asyncio.run(_apikey(settings, args))
    elif args.command == "demo-data":
        asyncio.run(_load_demo(settings, if_empty=args.if_empty))
    return 0


if __name__ == "__main__":
    sys.exit(main())
