"""The project's exceptions. Services raise these; the API handler maps them to HTTP once."""

from django.db import InterfaceError, OperationalError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError


class ServiceError(Exception):
    """A failure a client can act on: carries its HTTP status and stable ``error_code``."""

    status_code = 400
    error_code = "bad_request"
    default_message = "Bad request"
    # Seconds for the ``Retry-After`` header, when waiting helps (429, 503).
    retry_after: int | None = None

    def __init__(self, message: str | None = None, *, errors: list[dict] | None = None):
        self.message = message or self.default_message
        self.errors = errors or []
        super().__init__(self.message)


class ValidationFailed(ServiceError):
    status_code = 422
    error_code = "validation_error"
    default_message = "Validation failed"


class NotAuthenticated(ServiceError):
    status_code = 401
    error_code = "not_authenticated"
    default_message = "Authentication credentials were not provided."


class PermissionDenied(ServiceError):
    status_code = 403
    error_code = "permission_denied"
    default_message = "Your role does not allow this action."


class ServiceUnavailable(ServiceError):
    status_code = 503
    error_code = "service_unavailable"
    default_message = "A required backend is unavailable; try again shortly."


def backend_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` means the database or Redis cannot be reached (503, not 500).

    Django wraps psycopg's connection failures and pool timeouts as ``OperationalError`` or
    ``InterfaceError``; the Redis cache and channel layer raise redis-py's connection errors.
    """
    return isinstance(exc, OperationalError | InterfaceError | RedisConnectionError | RedisTimeoutError)
