"""`python -m bench.load_server`: uvicorn with `--workers`, and the head limits `serve` applies.

`uvicorn`'s command line cannot take a protocol class, so plain `uvicorn --workers 2` reads heads
without server/http_limits.py's bounds (a 300-header request is answered). This launcher takes the
same options as the uvicorn command `bench.common.Server` runs and passes `BoundedHttp` (the
limits from ANALYTICS_HTTP_* settings) and the keep-alive timeout, as `python -m server.cli serve`
does; the workers are spawned by uvicorn and import this module to find the class.
"""

from __future__ import annotations

import argparse

from app.config import get_settings
from server.http_limits import BoundedHttpToolsProtocol, HeadLimits

_settings = get_settings()


class BoundedHttp(BoundedHttpToolsProtocol):
    limits = HeadLimits(
        _settings.http_max_header_bytes, _settings.http_max_headers, _settings.http_header_timeout_seconds
    )


def main() -> None:
    import uvicorn

    ap = argparse.ArgumentParser()
    ap.add_argument("app")
    ap.add_argument("--factory", action="store_true")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8000)
    ap.add_argument("--log-level", default="warning")
    ap.add_argument("--no-access-log", action="store_true")
    ap.add_argument("--workers", type=int, default=1)
    args = ap.parse_args()
    uvicorn.run(
        args.app,
        factory=args.factory,
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        access_log=not args.no_access_log,
        workers=args.workers,
        http=BoundedHttp,
        timeout_keep_alive=_settings.http_keep_alive_seconds,
    )


if __name__ == "__main__":
    main()
