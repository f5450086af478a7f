"""Login lockouts (django-axes) on the API token endpoint, ``/login/`` and ``/admin/login/``.

Axes records every failed login in PostgreSQL (``AccessAttempt``, shared by all processes;
``AccessFailureLog`` keeps each one for the admin) and refuses to authenticate, even with the
right password, while a lockout lasts. Failures are counted three ways, each with its own limit
within the cool-off window (docs/operations.md, "Security"):

- one account from one address (``LOGIN_FAILURE_LIMIT``): one guesser stops early without
  locking the account's owner out elsewhere;
- one account from any address (``LOGIN_ACCOUNT_FAILURE_LIMIT``): guessing spread over many
  addresses;
- one address for any account (``LOGIN_IP_FAILURE_LIMIT``): one address trying many accounts,
  set higher because an office behind one NAT address shares it.
"""

import math

from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_cool_off, get_failure_limit, get_lockout_parameters
from django.conf import settings
from django.db.models import Sum
from django.shortcuts import render

from interviewsvc.api import error_json_response
from interviewsvc.errors import ServiceError

_ACCOUNT_FROM_ADDRESS = ("ip_address", "username")


def _limit_of(parameter: str | list[str]) -> int:
    key = tuple(sorted([parameter] if isinstance(parameter, str) else parameter))
    return {
        _ACCOUNT_FROM_ADDRESS: settings.LOGIN_FAILURE_LIMIT,
        ("username",): settings.LOGIN_ACCOUNT_FAILURE_LIMIT,
        ("ip_address",): settings.LOGIN_IP_FAILURE_LIMIT,
    }.get(key, settings.AXES_FAILURE_LIMIT)


class LoginLimitsHandler(AxesDatabaseHandler):
    """Axes' database handler with a limit per lockout parameter instead of one for all.

    Axes compares one number, ``get_failures()``, with ``AXES_FAILURE_LIMIT``. This returns, for
    the parameter closest to its own limit, its failures shifted by the difference of the two
    limits, so that comparison locks exactly when any parameter reaches its own limit.
    """

    def get_failures(self, request, credentials: dict | None = None) -> int:
        base = get_failure_limit(request, credentials)
        parameters = get_lockout_parameters(request, credentials)
        attempts_list = self.get_user_attempts(request, credentials)
        worst = 0
        for parameter, attempts in zip(parameters, attempts_list, strict=True):
            failures = attempts.aggregate(total=Sum("failures_since_start"))["total"] or 0
            worst = max(worst, failures - _limit_of(parameter) + base)
        return worst


def retry_after_seconds(request=None) -> int:
    """How long a lockout lasts from now: every refused attempt restarts the cool-off."""
    cool_off = get_cool_off(request)
    return max(1, math.ceil(cool_off.total_seconds())) if cool_off else 3600


class LoginLocked(ServiceError):
    status_code = 429
    error_code = "login_locked"
    default_message = "Too many failed logins for this account or from this address; try again later."

    @property
    def retry_after(self) -> int:
        return retry_after_seconds()


def lockout_response(request, original_response=None, credentials=None):
    """``AXES_LOCKOUT_CALLABLE``: the error envelope under ``/api/``, a page elsewhere; 429 both."""
    retry_after = retry_after_seconds(request)
    if request.path.startswith("/api/"):
        error = LoginLocked()
        return error_json_response(
            request,
            status=error.status_code,
            error_code=error.error_code,
            message=error.message,
            headers={"Retry-After": str(retry_after)},
        )
    response = render(
        request, "accounts/locked_out.html", {"minutes": math.ceil(retry_after / 60)}, status=LoginLocked.status_code
    )
    response["Retry-After"] = str(retry_after)
    return response
