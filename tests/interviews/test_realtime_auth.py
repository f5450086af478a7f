"""Who may open the interview socket, and how: ticket, bearer subprotocol, session cookie."""

import asyncio
import sys
import threading
import uuid

import pytest
from django.db import connections

from interviews.tickets import ticket_issue, ticket_redeem
from tests.factories import InterviewFactory
from tests.interviews.realtime_support import (
    TIMEOUT,
    access_token,
    bearer_socket,
    expect_close,
    session_cookie,
    socket,
    start_interview,
    sync,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def interview(employee):
    return start_interview(employee)


def issue(client, interview_id):
    return client.post(f"/api/v1/interviews/{interview_id}/ws-ticket")


# --- the ticket endpoint ----------------------------------------------------------------------


def test_ticket_endpoint_returns_ticket_ttl_and_socket_url(client_for, employee, interview):
    response = issue(client_for(employee), interview.id)
    assert response.status_code == 200, response.content
    data = response.json()["data"]
    assert set(data) == {"ticket", "expires_in", "ws_url"}
    assert len(data["ticket"]) >= 32
    assert data["expires_in"] == 60
    assert data["ws_url"] == f"ws://testserver/ws/interviews/{interview.id}/"


def test_staff_in_scope_may_get_a_ticket_to_observe(client_for, staff, interview):
    assert issue(client_for(staff), interview.id).status_code == 200


@pytest.mark.parametrize(
    ("who", "status", "error_code"),
    [("anonymous", 401, "not_authenticated"), ("foreign_admin", 403, "interview_access_denied")],
)
def test_ticket_endpoint_refuses_strangers(client_for, request, interview, who, status, error_code):
    user = None if who == "anonymous" else request.getfixturevalue(who)
    response = issue(client_for(user), interview.id)
    assert response.status_code == status
    assert response.json()["error_code"] == error_code


def test_ticket_endpoint_404_and_422(client_for, employee):
    assert issue(client_for(employee), uuid.uuid4()).status_code == 404
    response = issue(client_for(employee), "not-a-uuid")
    assert response.status_code == 422
    assert response.json()["error_code"] == "validation_error"


def test_ticket_is_single_use_and_bound_to_its_interview(employee, interview):
    ticket = ticket_issue(user=employee, interview_id=interview.id)
    assert ticket_redeem(ticket=ticket, interview_id=uuid.uuid4()) is None  # wrong interview: burnt
    assert ticket_redeem(ticket=ticket, interview_id=interview.id) is None
    ticket = ticket_issue(user=employee, interview_id=interview.id)
    assert ticket_redeem(ticket=ticket, interview_id=interview.id) == employee
    assert ticket_redeem(ticket=ticket, interview_id=interview.id) is None


def test_ticket_of_deactivated_user_is_refused(employee, interview):
    ticket = ticket_issue(user=employee, interview_id=interview.id)
    employee.is_active = False
    employee.save(update_fields=["is_active"])
    assert ticket_redeem(ticket=ticket, interview_id=interview.id) is None


# --- connecting -------------------------------------------------------------------------------


async def test_ticket_opens_one_socket_only(client_for, employee, interview):
    response = await sync(lambda: issue(client_for(employee), interview.id))()
    ticket = response.json()["data"]["ticket"]
    comm = socket(interview.id, query=f"ticket={ticket}")
    connected, subprotocol = await comm.connect(timeout=TIMEOUT)
    assert connected
    assert subprotocol is None
    frame = await comm.receive_json_from(timeout=TIMEOUT)
    assert frame["type"] == "connected"
    assert frame["role"] == "participant"
    assert frame["last_sequence"] == 1
    assert frame["interview"]["id"] == str(interview.id)
    assert frame["interview"]["status"] == "in_progress"
    await comm.disconnect()
    await expect_close(socket(interview.id, query=f"ticket={ticket}"), 4401)


async def test_expired_ticket_is_refused(settings, employee, interview):
    settings.WS_TICKET_TTL_SECONDS = 1
    ticket = await sync(ticket_issue)(user=employee, interview_id=interview.id)
    await asyncio.sleep(1.2)
    await expect_close(socket(interview.id, query=f"ticket={ticket}"), 4401)


async def test_forged_ticket_is_refused(interview):
    await expect_close(socket(interview.id, query="ticket=not-a-real-ticket"), 4401)


async def test_bearer_subprotocol_pair_authenticates_and_is_answered_with_bearer(employee, interview):
    comm = await bearer_socket(employee, interview.id)
    connected, subprotocol = await comm.connect(timeout=TIMEOUT)
    assert (connected, subprotocol) == (True, "bearer")
    frame = await comm.receive_json_from(timeout=TIMEOUT)
    assert (frame["type"], frame["role"]) == ("connected", "participant")
    await comm.disconnect()


@pytest.mark.parametrize("protocols", [["bearer", "garbage.token.value"], ["bearer"], ["bearer", "a", "b"]])
async def test_bad_bearer_pair_is_4401(interview, protocols):
    await expect_close(socket(interview.id, subprotocols=protocols), 4401)


async def test_refresh_token_is_not_an_access_token(employee, interview):
    from accounts.serializers import TokenObtainSerializer

    refresh = await sync(lambda: str(TokenObtainSerializer.get_token(employee)))()
    await expect_close(socket(interview.id, subprotocols=["bearer", refresh]), 4401)


async def test_session_cookie_authenticates(employee, interview):
    cookie = await sync(session_cookie)(employee)
    comm = socket(interview.id, headers=[cookie])
    connected, _ = await comm.connect(timeout=TIMEOUT)
    assert connected
    frame = await comm.receive_json_from(timeout=TIMEOUT)
    assert (frame["type"], frame["role"]) == ("connected", "participant")
    await comm.disconnect()


async def test_no_credentials_is_4401(interview):
    await expect_close(socket(interview.id), 4401)


@pytest.mark.parametrize("param", ["token", "access_token", "jwt"])
async def test_jwt_in_query_string_is_refused_even_with_a_session(employee, interview, param):
    token = await sync(access_token)(employee)
    cookie = await sync(session_cookie)(employee)
    await expect_close(socket(interview.id, query=f"{param}={token}", headers=[cookie]), 4401)


async def test_foreign_user_is_4403(foreign_admin, other_employee, interview):
    for user in (foreign_admin, other_employee):
        await expect_close(await bearer_socket(user, interview.id), 4403)


async def test_unknown_or_malformed_interview_is_4404(employee):
    await expect_close(await bearer_socket(employee, uuid.uuid4()), 4404)
    await expect_close(await bearer_socket(employee, "not-a-uuid"), 4404)


async def test_staff_and_superuser_connect_as_observers(staff, admin_user, superuser, employee):
    interview = await sync(InterviewFactory)(employee=employee)
    for user in (staff, admin_user, superuser):
        comm = await bearer_socket(user, interview.id)
        await comm.connect(timeout=TIMEOUT)
        frame = await comm.receive_json_from(timeout=TIMEOUT)
        assert (frame["type"], frame["role"]) == ("connected", "observer")
        await comm.disconnect()


@pytest.mark.parametrize("origin", [(b"origin", b"http://evil.example.com"), None])
async def test_foreign_or_missing_origin_is_rejected_at_handshake(employee, interview, origin):
    token = await sync(access_token)(employee)
    comm = socket(interview.id, subprotocols=["bearer", token], origin=origin)
    connected, _ = await comm.connect(timeout=TIMEOUT)
    assert connected is False


RACERS, ROUNDS = 8, 10


@pytest.fixture
def eager_thread_switching():
    """Switch threads as often as the interpreter can, so that racers in one process (on the
    in-memory cache) interleave between any two steps of a redeem, as processes on Redis do."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(interval)


def test_racing_redeemers_of_one_ticket_let_exactly_one_in(eager_thread_switching, employee, interview):
    """Eight redeemers released at once by a barrier, ten tickets in a row: one winner each.

    A check-then-delete redeem (``get``, then a ``delete`` whose answer is ignored) lets several
    in, on Redis and on the in-memory cache alike.
    """
    barrier = threading.Barrier(RACERS)
    for _ in range(ROUNDS):
        ticket = ticket_issue(user=employee, interview_id=interview.id)
        winners, errors = [], []

        def redeem(ticket=ticket, winners=winners, errors=errors):
            try:
                barrier.wait(timeout=60)
                user = ticket_redeem(ticket=ticket, interview_id=interview.id)
                if user is not None:
                    winners.append(user)
            except BaseException as exc:  # a thread's exception would otherwise only be printed
                errors.append(exc)
            finally:
                connections.close_all()

        threads = [threading.Thread(target=redeem) for _ in range(RACERS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)  # bounds a hang only
        assert not any(thread.is_alive() for thread in threads)
        if errors:
            raise errors[0]
        assert winners == [employee]
