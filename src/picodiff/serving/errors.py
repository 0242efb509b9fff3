"""HTTP error handlers: every failure is JSON {"error": {"status", "message", "field"?}}."""

from __future__ import annotations

import logging
import traceback

from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from .broker import BrokerDown
from .logs import log_event
from .manager import ModelUnavailable, UnknownModel
from .queue import QueueFull
from .validation import ApiError

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")  # OPTIONS goes unmentioned
HTTP_METHODS = frozenset({*METHODS, "OPTIONS", "CONNECT", "TRACE"})  # the standard ones


def error_response(err: ApiError):
    response = jsonify(err.to_dict())
    response.status_code = err.status
    response.headers.update(err.headers)
    return response


def register_error_handlers(app: Flask) -> None:
    """Map the server's exceptions to status codes; a traceback is logged, never sent."""

    @app.errorhandler(ApiError)
    def api_error(err: ApiError):
        return error_response(err)

    @app.errorhandler(UnknownModel)
    def unknown_model(err: UnknownModel):
        return error_response(ApiError(404, str(err), field="model"))

    @app.errorhandler(ModelUnavailable)
    def unavailable(err: ModelUnavailable):
        return error_response(ApiError(503, str(err)))

    @app.errorhandler(BrokerDown)
    def broker_down(err: BrokerDown):
        return error_response(ApiError(503, str(err), headers={"Retry-After": 1}))

    @app.errorhandler(QueueFull)
    def queue_full(err: QueueFull):
        return error_response(ApiError(429, str(err), headers={"Retry-After": err.retry_after}))

    @app.errorhandler(HTTPException)
    def http_error(err: HTTPException):
        message, headers = err.description or err.name, {}
        if err.code == 413:
            limit = app.config.get("MAX_CONTENT_LENGTH")
            message = f"the body is larger than the {limit} bytes this server accepts"
        if isinstance(err, MethodNotAllowed):  # Allow: the route's methods, in a fixed order
            valid = set(err.valid_methods or ())
            headers["Allow"] = ", ".join(m for m in METHODS if m in valid)
            message = f"{request.method} is not allowed here; use {headers['Allow']}"
        return error_response(ApiError(err.code or 500, message, headers=headers))

    @app.errorhandler(Exception)
    def internal_error(err: Exception):
        log_event(
            "internal_error",
            logging.ERROR,
            path=request.path,
            error=repr(err),
            trace=traceback.format_exc(),
        )
        return error_response(ApiError(500, f"internal server error ({type(err).__name__})"))
