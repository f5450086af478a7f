"""Login lockouts on the three login paths, and the client address they and the throttles key on.

Defaults (interviewsvc/settings.py): 5 failures for one account from one address, 20 for one
account from anywhere, 50 from one address for any account, within 15 minutes.
"""

import json
import logging
import uuid

import pytest
from asgiref.testing import ApplicationCommunicator
from axes.models import AccessAttempt, AccessFailureLog
from channels.db import database_sync_to_async
from django.core.cache import cache
from django.core.management import call_command
from django.test import Client, RequestFactory
from rest_framework.test import APIClient

from interviewsvc.client_ip import client_ip
from tests.factories import PASSWORD, UserFactory
from tests.test_errors_and_service import assert_error

pytestmark = pytest.mark.django_db

COOLOFF_SECONDS = 15 * 60


def api_login(username, password, *, client=None, **extra):
    client = client or APIClient()
    return client.post("/api/v1/auth/token", {"username": username, "password": password}, format="json", **extra)


def assert_locked_envelope(response):
    body = assert_error(response, 429, "login_locked")
    assert response["Retry-After"] == str(COOLOFF_SECONDS)
    assert "access" not in response.content.decode()
    return body


def new_forwarded_for(n: int) -> str:
    return f"203.0.113.{n % 250 + 1}, 198.51.100.{n % 250 + 1}"


# --- the API token endpoint ----------------------------------------------------------------------


def test_seventy_wrong_passwords_with_a_new_forwarded_for_each_lock_the_account(employee):
    """The issue's attack: a new X-Forwarded-For per guess, then the right password."""
    statuses = []
    for n in range(70):
        response = api_login(employee.username, f"guess-{n}", HTTP_X_FORWARDED_FOR=new_forwarded_for(n))
        statuses.append(response.status_code)
        if n == 69:
            assert_locked_envelope(response)
    assert statuses == [401] * 4 + [429] * 66

    right = api_login(employee.username, PASSWORD, HTTP_X_FORWARDED_FOR="192.0.2.200")
    assert_locked_envelope(right)
    # Every guess was counted against the one real address, none against the spoofed ones.
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"127.0.0.1"}


def test_the_owner_signs_in_from_elsewhere_while_one_address_is_locked_out_of_the_account(employee, other_employee):
    for n in range(5):
        api_login(employee.username, f"guess-{n}", REMOTE_ADDR="198.51.100.9")
    assert_locked_envelope(api_login(employee.username, PASSWORD, REMOTE_ADDR="198.51.100.9"))

    # The lockout is of this account from that address: the owner elsewhere and other accounts
    # from anywhere, that address included, still sign in.
    assert api_login(employee.username, PASSWORD, REMOTE_ADDR="192.0.2.10").status_code == 200
    assert api_login(other_employee.username, PASSWORD, REMOTE_ADDR="192.0.2.11").status_code == 200
    assert api_login(other_employee.username, PASSWORD, REMOTE_ADDR="198.51.100.9").status_code == 200


def test_guesses_at_one_account_spread_over_addresses_lock_it_everywhere(employee, other_employee, settings):
    settings.LOGIN_ACCOUNT_FAILURE_LIMIT = 8
    statuses = [
        api_login(employee.username, f"guess-{n}", REMOTE_ADDR=f"198.51.100.{n // 4 + 1}").status_code for n in range(8)
    ]
    assert statuses == [401] * 7 + [429]
    assert_locked_envelope(api_login(employee.username, PASSWORD, REMOTE_ADDR="192.0.2.77"))
    assert api_login(other_employee.username, PASSWORD, REMOTE_ADDR="192.0.2.77").status_code == 200


def test_one_address_trying_many_accounts_is_locked_for_every_account(employee, settings):
    settings.LOGIN_IP_FAILURE_LIMIT = 6
    statuses = [api_login(f"nobody-{n}", "guess", REMOTE_ADDR="198.51.100.20").status_code for n in range(6)]
    assert statuses == [401] * 5 + [429]
    assert_locked_envelope(api_login(employee.username, PASSWORD, REMOTE_ADDR="198.51.100.20"))
    # The account itself is not locked: from another address it signs in.
    assert api_login(employee.username, PASSWORD, REMOTE_ADDR="198.51.100.21").status_code == 200


@pytest.mark.django_db(transaction=True)
async def test_lockout_through_the_asgi_application():
    """The API path as daphne serves it: DRF's request under axes, the client from the scope."""
    from interviewsvc.asgi import application

    user = await database_sync_to_async(UserFactory)()

    async def post(password: str, client: str, forwarded_for: str):
        body = json.dumps({"username": user.username, "password": password}).encode()
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/api/v1/auth/token",
            "raw_path": b"/api/v1/auth/token",
            "query_string": b"",
            "headers": [
                (b"host", b"testserver"),
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"x-forwarded-for", forwarded_for.encode()),
            ],
            "client": (client, 50000),
            "server": ("testserver", 80),
        }
        comm = ApplicationCommunicator(application, scope)
        await comm.send_input({"type": "http.request", "body": body, "more_body": False})
        start = await comm.receive_output(timeout=10)
        content = b""
        while True:
            message = await comm.receive_output(timeout=10)
            content += message.get("body", b"")
            if not message.get("more_body"):
                break
        await comm.wait(timeout=10)
        return start["status"], {k.lower(): v for k, v in start["headers"]}, json.loads(content)

    results = [await post(f"guess-{n}", "198.51.100.30", f"203.0.113.{n + 1}") for n in range(5)]
    right = await post(PASSWORD, "198.51.100.30", "203.0.113.99")
    elsewhere = await post(PASSWORD, "198.51.100.31", "203.0.113.1")
    assert [status for status, _, _ in results] == [401, 401, 401, 401, 429]
    status, headers, body = right
    assert (status, body["error_code"], headers[b"retry-after"]) == (429, "login_locked", str(COOLOFF_SECONDS).encode())
    assert elsewhere[0] == 200


# --- the built-in pages and the admin ------------------------------------------------------------


@pytest.mark.parametrize("path", ["/login/", "/admin/login/"])
def test_the_login_pages_lock_and_refuse_the_right_password(client, superuser, path):
    for n in range(4):
        response = client.post(path, {"username": superuser.username, "password": f"guess-{n}"})
        assert response.status_code == 200  # the form again, with its error
    locked = client.post(path, {"username": superuser.username, "password": "guess-4"})
    assert locked.status_code == 429
    assert locked["Content-Type"].startswith("text/html")
    assert b"Sign-in locked" in locked.content
    assert locked["Retry-After"] == str(COOLOFF_SECONDS)

    right = client.post(path, {"username": superuser.username, "password": PASSWORD})
    assert right.status_code == 429
    assert b"Sign-in locked" in right.content
    assert "_auth_user_id" not in client.session
    assert client.get("/admin/").status_code == 302  # still signed out


def test_failures_on_every_path_count_towards_one_lockout(client, superuser):
    api_login(superuser.username, "guess-1")
    api_login(superuser.username, "guess-2")
    client.post("/login/", {"username": superuser.username, "password": "guess-3"})
    client.post("/admin/login/", {"username": superuser.username, "password": "guess-4"})
    locked = client.post("/admin/login/", {"username": superuser.username, "password": "guess-5"})
    assert locked.status_code == 429
    assert_locked_envelope(api_login(superuser.username, PASSWORD))


# --- lifting a lockout, and what an admin sees -------------------------------------------------


def lock_out(user, address="198.51.100.40"):
    for n in range(5):
        api_login(user.username, f"guess-{n}", REMOTE_ADDR=address)
    assert_locked_envelope(api_login(user.username, PASSWORD, REMOTE_ADDR=address))


def test_an_admin_lifts_a_lockout_with_the_reset_command(employee):
    lock_out(employee)
    call_command("axes_reset_username", employee.username)
    assert api_login(employee.username, PASSWORD, REMOTE_ADDR="198.51.100.40").status_code == 200


def test_an_admin_sees_and_lifts_a_lockout_in_the_admin(client, superuser, employee):
    lock_out(employee)
    client.force_login(superuser)
    attempts = client.get("/admin/axes/accessattempt/")
    assert attempts.status_code == 200
    assert employee.username.encode() in attempts.content
    failures = client.get("/admin/axes/accessfailurelog/")
    assert failures.status_code == 200
    assert employee.username.encode() in failures.content

    ids = [str(pk) for pk in AccessAttempt.objects.filter(username=employee.username).values_list("pk", flat=True)]
    response = client.post(
        "/admin/axes/accessattempt/", {"action": "delete_selected", "_selected_action": ids, "post": "yes"}
    )
    assert response.status_code == 302
    assert api_login(employee.username, PASSWORD, REMOTE_ADDR="198.51.100.40").status_code == 200
    # The history stays for the admin after the lockout is lifted.
    assert AccessFailureLog.objects.filter(username=employee.username).count() == 6


def test_failed_and_locked_logins_are_logged_and_kept_without_the_password(employee, caplog):
    secret = "Sup3r-secret-guess-" + uuid.uuid4().hex
    caplog.set_level(logging.INFO)
    for _ in range(5):
        api_login(employee.username, secret, REMOTE_ADDR="198.51.100.50")
    Client().post("/login/", {"username": employee.username, "password": secret}, REMOTE_ADDR="198.51.100.50")

    failures = [r for r in caplog.records if r.name.startswith("axes") and r.levelno >= logging.WARNING]
    assert any("login failure" in r.getMessage() for r in failures)
    assert any("Locking out" in r.getMessage() for r in failures)
    assert all(employee.username in r.getMessage() and "198.51.100.50" in r.getMessage() for r in failures)
    assert secret not in caplog.text

    logged = list(AccessFailureLog.objects.filter(username=employee.username).order_by("attempt_time"))
    assert [entry.locked_out for entry in logged] == [False] * 4 + [True, True]
    assert {entry.path_info for entry in logged} == {"/api/v1/auth/token", "/login/"}
    stored = [
        str(value)
        for row in AccessAttempt.objects.values_list("get_data", "post_data", "user_agent", "http_accept")
        for value in row
    ]
    assert not any(secret in value for value in stored)


# --- the client address: X-Forwarded-For only from trusted proxies -------------------------------


def test_anonymous_throttle_keys_on_the_peer_not_on_forwarded_for(monkeypatch):
    from rest_framework.throttling import SimpleRateThrottle

    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", {"anon": "3/minute", "user": "3/minute"})
    cache.clear()
    try:
        client = APIClient()
        statuses = [
            client.post("/api/v1/auth/token", {}, REMOTE_ADDR="198.51.100.60", HTTP_X_FORWARDED_FOR=f"203.0.113.{n}")
            for n in range(1, 5)
        ]
        assert [r.status_code for r in statuses] == [422, 422, 422, 429]
        # Another client has its own budget: one attacker cannot use up everyone's.
        assert client.post("/api/v1/auth/token", {}, REMOTE_ADDR="198.51.100.61").status_code == 422
    finally:
        cache.clear()


def test_a_trusted_proxy_forwarded_for_names_the_client(employee, settings, monkeypatch):
    from rest_framework.throttling import SimpleRateThrottle

    settings.NUM_PROXIES = 1
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    proxy = {"REMOTE_ADDR": "10.0.0.5"}
    # nginx appending ($proxy_add_x_forwarded_for): the client's own value comes first, ignored.
    for n in range(5):
        api_login(employee.username, f"guess-{n}", HTTP_X_FORWARDED_FOR=f"192.0.2.{n}, 203.0.113.7", **proxy)
    assert_locked_envelope(api_login(employee.username, PASSWORD, HTTP_X_FORWARDED_FOR="203.0.113.7", **proxy))
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"203.0.113.7"}
    # Another client behind the same proxy is not locked out.
    assert api_login(employee.username, PASSWORD, HTTP_X_FORWARDED_FOR="203.0.113.8", **proxy).status_code == 200

    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", {"anon": "2/minute", "user": "2/minute"})
    cache.clear()
    try:
        client = APIClient()
        first = [client.post("/api/v1/auth/token", {}, HTTP_X_FORWARDED_FOR="203.0.113.20", **proxy) for _ in range(3)]
        assert [r.status_code for r in first] == [422, 422, 429]
        other = client.post("/api/v1/auth/token", {}, HTTP_X_FORWARDED_FOR="203.0.113.21", **proxy)
        assert other.status_code == 422
    finally:
        cache.clear()


@pytest.mark.parametrize(
    ("num_proxies", "trusted", "remote", "forwarded", "expected"),
    [
        (0, [], "198.51.100.1", "203.0.113.9", "198.51.100.1"),  # default: the header never counts
        (1, [], "10.0.0.5", "203.0.113.9", "203.0.113.9"),
        (1, [], "10.0.0.5", "1.2.3.4, 203.0.113.9", "203.0.113.9"),  # the proxy's entry is the last
        (2, [], "10.0.0.5", "1.2.3.4, 203.0.113.9, 10.0.0.9", "203.0.113.9"),
        (1, [], "10.0.0.5", "", "10.0.0.5"),
        (1, [], "10.0.0.5", "not-an-address", "10.0.0.5"),
        (1, ["10.0.0.0/8"], "10.0.0.5", "203.0.113.9", "203.0.113.9"),
        (1, ["10.0.0.0/8"], "198.51.100.1", "203.0.113.9", "198.51.100.1"),  # not through our proxy
        (1, ["::1"], "::1", "2001:db8::7", "2001:db8::7"),
    ],
)
def test_client_ip(settings, num_proxies, trusted, remote, forwarded, expected):
    settings.NUM_PROXIES = num_proxies
    settings.TRUSTED_PROXIES = trusted
    extra = {"HTTP_X_FORWARDED_FOR": forwarded} if forwarded else {}
    request = RequestFactory().get("/", REMOTE_ADDR=remote, **extra)
    assert client_ip(request) == expected
