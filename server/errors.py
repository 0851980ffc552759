"""Exception handlers: every error leaves as the contract's body (API.md section 2), never a stack."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Route

from app.errors import AppError, InvalidBody, NotFound
from server.middleware import error_response

__all__ = ["install_error_handlers"]


def _allowed_methods(request: Request) -> str:
    """The `Allow` header of a 405 (RFC 9110): the methods of every route of this path."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        if isinstance(route, Route) and route.path_regex.match(request.url.path) and route.methods:
            methods |= route.methods
    return ", ".join(sorted(methods))


def install_error_handlers(app: FastAPI) -> None:
    """Contract errors become their bodies. An unexpected exception is answered (and logged, once) by
    server.middleware.RequestMiddleware."""

    async def app_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, AppError)
        return error_response(exc)

    async def validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        details = [{"field": ".".join(str(p) for p in e.get("loc", [])[1:])} for e in exc.errors()]
        return error_response(InvalidBody("request is not valid", details))

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code == 404:
            return error_response(NotFound("no such route"))
        if exc.status_code == 405:
            body = {"error": "method_not_allowed", "message": "method not allowed for this route"}
            return JSONResponse(body, status_code=405, headers={"Allow": _allowed_methods(request)})
        body = {"error": "http_error", "message": str(exc.detail)}
        return JSONResponse(body, status_code=exc.status_code)

    app.add_exception_handler(AppError, app_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
