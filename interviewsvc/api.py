"""The request and response helpers every app's views use: one place each.

- The response envelope. Success: ``{status, code, message, data, errors: null, meta}``.
  Error: ``{status: "error", code, error_code, message, data: null, errors: [...], meta}``.
- The exception handler that turns every error into that envelope.
- Input: ``StrictSerializer`` (unknown fields are a 422), ``validated``, ``parse_uuid``, the
  ``page``/``page_size`` parameters and ``filterset_validated`` for list filters.
- Pagination.
"""

import logging
import math
import uuid
from datetime import UTC, datetime

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.db import DatabaseError
from django.http import Http404, JsonResponse
from rest_framework import exceptions as drf
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework_simplejwt.exceptions import InvalidToken

from interviewsvc.errors import ServiceError, ValidationFailed, backend_unavailable

logger = logging.getLogger("interviewsvc.api")

RETRY_AFTER_UNAVAILABLE = 5


def request_id_of(request) -> str:
    rid = getattr(request, "request_id", None)
    if rid is None and hasattr(request, "_request"):
        rid = getattr(request._request, "request_id", None)
    return rid or str(uuid.uuid4())


def meta_for(request, **extra) -> dict:
    now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return {"request_id": request_id_of(request), "timestamp": now, **extra}


def success_body(request, data, message: str, *, status: int = 200, meta: dict | None = None) -> dict:
    return {
        "status": "success",
        "code": status,
        "message": message,
        "data": data,
        "errors": None,
        "meta": meta_for(request, **(meta or {})),
    }


def success(request, data, message: str, *, status: int = 200, meta: dict | None = None, headers=None) -> Response:
    return Response(success_body(request, data, message, status=status, meta=meta), status=status, headers=headers)


def error_body(request, *, status: int, error_code: str, message: str, errors: list | None = None) -> dict:
    return {
        "status": "error",
        "code": status,
        "error_code": error_code,
        "message": message,
        "data": None,
        "errors": errors or [],
        "meta": meta_for(request),
    }


def error_json_response(request, *, status: int, error_code: str, message: str, errors=None, headers=None):
    """The error envelope as a plain Django response, for middleware and URL-level handlers."""
    response = JsonResponse(
        error_body(request, status=status, error_code=error_code, message=message, errors=errors), status=status
    )
    for key, value in (headers or {}).items():
        response[key] = value
    return response


# --- validation errors -> the contract's ``errors`` list -------------------------------------

_TYPE_BY_CODE = {
    "invalid": "invalid",
    "required": "required",
    "null": "required",
    "blank": "blank",
    "max_length": "too_long",
    "min_length": "too_short",
    "invalid_choice": "invalid_choice",
    "max_value": "too_large",
    "min_value": "too_small",
    "unknown_field": "unknown_field",
}


def field_errors(detail, prefix: str = "") -> list[dict]:
    """Flatten DRF's nested ``ErrorDetail`` structure into ``[{field, error, type}]``."""
    out: list[dict] = []
    if isinstance(detail, dict):
        for key, value in detail.items():
            if isinstance(key, int):  # ListField items: conversation_history[3].role
                out.extend(field_errors(value, f"{prefix}[{key}]"))
                continue
            name = "" if key in ("non_field_errors", "__all__") else str(key)
            out.extend(field_errors(value, f"{prefix}.{name}" if prefix and name else (name or prefix)))
    elif isinstance(detail, list):
        if detail and all(isinstance(item, dict | list) for item in detail):
            for index, item in enumerate(detail):
                out.extend(field_errors(item, f"{prefix}[{index}]"))
        else:
            for item in detail:
                out.extend(field_errors(item, prefix))
    else:
        code = getattr(detail, "code", "invalid") or "invalid"
        message = str(detail)
        code_type = "invalid_uuid" if code == "invalid" and "UUID" in message else _TYPE_BY_CODE.get(code, code)
        out.append({"field": prefix or None, "error": message, "type": code_type})
    return out


def _first_message(errors: list[dict], default: str) -> str:
    if not errors:
        return default
    first = errors[0]
    return f"{first['field']}: {first['error']}" if first.get("field") else first["error"]


def detail_message(detail, default: str) -> str:
    """One sentence for a person from a DRF ``detail``, never the ``str()`` of a container.

    simplejwt wraps its message in a dict (``{"detail": …, "code": …}``, plus ``messages`` for
    an invalid token), DRF's may be a list or a dict by field: take the message itself, or the
    first one.
    """
    if isinstance(detail, dict) and "detail" in detail:
        detail = detail["detail"]
    if isinstance(detail, dict | list):
        detail = _first_message(field_errors(detail), default)
    return " ".join(str(detail).split()) or default


def exception_handler(exc, context):
    """Map every exception raised under DRF to the error envelope."""
    request = context.get("request")
    headers: dict[str, str] = {}
    errors: list[dict] = []

    if isinstance(exc, ServiceError):
        status, code, message, errors = exc.status_code, exc.error_code, exc.message, exc.errors
        if exc.retry_after is not None:
            headers["Retry-After"] = str(exc.retry_after)
        elif status == 503:
            headers["Retry-After"] = str(RETRY_AFTER_UNAVAILABLE)
    elif isinstance(exc, drf.ValidationError):
        errors = field_errors(exc.detail)
        status, code = 422, "validation_error"
        message = _first_message(errors, "Validation failed")
    elif isinstance(exc, drf.ParseError):
        status, code = 400, "malformed_request"
        message = "Malformed request body: " + detail_message(exc.detail, "not valid JSON.")
    elif isinstance(exc, RequestDataTooBig):
        status, code, message = 413, "payload_too_large", "Request body is larger than the configured limit."
    elif isinstance(exc, InvalidToken):
        status, code, message = 401, "token_invalid", "Token is invalid, expired or revoked."
    elif isinstance(exc, drf.NotAuthenticated):
        status, code, message = 401, "not_authenticated", "Authentication credentials were not provided."
    elif isinstance(exc, drf.AuthenticationFailed):
        status, code, message = 401, "token_invalid", detail_message(exc.detail, "Authentication failed.")
    elif isinstance(exc, drf.PermissionDenied | DjangoPermissionDenied):
        status, code, message = 403, "permission_denied", "You do not have permission to perform this action."
    elif isinstance(exc, drf.NotFound | Http404):
        status, code, message = 404, "not_found", "Not found."
    elif isinstance(exc, drf.MethodNotAllowed):
        status, code, message = 405, "method_not_allowed", detail_message(exc.detail, "Method not allowed.")
    elif isinstance(exc, drf.NotAcceptable):
        status, code, message = 406, "not_acceptable", detail_message(exc.detail, "Not acceptable.")
    elif isinstance(exc, drf.UnsupportedMediaType):
        status, code, message = 415, "unsupported_media_type", detail_message(exc.detail, "Unsupported media type.")
    elif isinstance(exc, drf.Throttled):
        status, code = 429, "throttled"
        wait = math.ceil(exc.wait) if exc.wait is not None else 1
        message = f"Request was throttled. Retry in {wait} seconds."
        headers["Retry-After"] = str(wait)
    elif backend_unavailable(exc):
        logger.warning("backend unavailable: %s", exc)
        status, code, message = 503, "service_unavailable", "A required backend is unavailable; try again shortly."
        headers["Retry-After"] = str(RETRY_AFTER_UNAVAILABLE)
    elif isinstance(exc, drf.APIException):
        status, code = exc.status_code, exc.default_code
        message = detail_message(exc.detail, "Request failed.")
    elif isinstance(exc, DatabaseError):
        logger.exception("database error")
        status, code, message = 500, "internal_error", "Internal server error."
    else:
        logger.exception("unhandled error", exc_info=exc)
        status, code, message = 500, "internal_error", "Internal server error."

    if status in (401,):
        headers.setdefault("WWW-Authenticate", 'Bearer realm="api"')
    body = error_body(request, status=status, error_code=code, message=message, errors=errors)
    return Response(body, status=status, headers=headers)


# --- input -----------------------------------------------------------------------------------


class StrictSerializer(serializers.Serializer):
    """An input serializer that refuses fields it does not declare (422 ``unknown_field``)."""

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError(
                    {name: [serializers.ErrorDetail("Unknown field.", code="unknown_field")] for name in unknown}
                )
        return super().to_internal_value(data)


class StrictCharField(serializers.CharField):
    """A string field that takes only JSON strings (DRF's turns numbers into text)."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


def validated(serializer_class, data) -> dict:
    """``data`` validated by ``serializer_class``; a ``ValidationError`` (422) otherwise."""
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def parse_uuid(value: str, field: str = "interview_id") -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError as exc:
        raise ValidationFailed(
            f"{field}: Must be a valid UUID.",
            errors=[{"field": field, "error": "Must be a valid UUID.", "type": "invalid_uuid"}],
        ) from exc


class PageQuerySerializer(serializers.Serializer):
    """``page`` and ``page_size`` of every list."""

    page = serializers.IntegerField(min_value=1, default=1)
    page_size = serializers.IntegerField(min_value=1, max_value=100, default=20)


def page_params(request) -> dict:
    """The request's ``page`` and ``page_size``, validated (other parameters are the filters')."""
    return validated(PageQuerySerializer, {k: v for k, v in request.query_params.items() if k in ("page", "page_size")})


def filterset_validated(filterset):
    """``filterset`` if its parameters are valid; a 422 naming the first bad one otherwise."""
    if not filterset.is_valid():
        errors = field_errors(
            {
                field: [serializers.ErrorDetail(e["message"], code=e["code"] or "invalid") for e in errs]
                for field, errs in filterset.errors.get_json_data().items()
            }
        )
        raise ValidationFailed(f"{errors[0]['field']}: {errors[0]['error']}", errors=errors)
    return filterset


# --- pagination ------------------------------------------------------------------------------


def paginate(*, page: int, page_size: int, total: int) -> tuple[int, int, dict]:
    """Return ``(offset, limit, meta.pagination)``; a page past the end is simply empty."""
    total_pages = math.ceil(total / page_size) if total else 0
    pagination = {
        "total_items": total,
        "total_pages": total_pages,
        "current_page": page,
        "page_size": page_size,
        "has_next": page < total_pages,
        "has_previous": page > 1,
    }
    return (page - 1) * page_size, page_size, pagination
