"""The list's total is cached briefly once it is large (``LIST_COUNT_CACHE_*``), exact below.

Every test lists as a user created here: the cache key holds the user's scope (employee and
organization ids), so no test sees another's cached total, on locmem or on a shared Redis.
"""

import uuid

import pytest

from accounts.models import Role
from tests.factories import InterviewFactory, UserFactory

URL = "/api/v1/interviews"


def total(response) -> int:
    assert response.status_code == 200, response.content
    return response.json()["meta"]["pagination"]["total_items"]


@pytest.fixture
def reviewer(db):
    """A staff member of a fresh organization, with three interviews in it."""
    user = UserFactory(role=Role.STAFF, organization_id=uuid.uuid4())
    employee = UserFactory(organization_id=user.organization_id)
    for _ in range(3):
        InterviewFactory(employee=employee)
    return user


def test_a_large_total_is_served_from_the_cache_while_rows_stay_fresh(client_for, reviewer, settings):
    settings.LIST_COUNT_CACHE_SECONDS = 60
    settings.LIST_COUNT_CACHE_MIN_ITEMS = 3
    client = client_for(reviewer)
    assert total(client.get(URL)) == 3

    newest = InterviewFactory(employee=UserFactory(organization_id=reviewer.organization_id))
    response = client.get(URL)
    assert total(response) == 3  # the cached total, for up to LIST_COUNT_CACHE_SECONDS
    assert response.json()["data"][0]["id"] == str(newest.id)  # the page itself is never cached
    # Other filters are another count, counted afresh.
    assert total(client.get(URL, {"status": "in_progress"})) == 4


def test_cached_list_skips_the_count_query(client_for, reviewer, settings, django_assert_num_queries):
    settings.LIST_COUNT_CACHE_SECONDS = 60
    settings.LIST_COUNT_CACHE_MIN_ITEMS = 3
    client = client_for(reviewer)
    client.get(URL)
    with django_assert_num_queries(2):  # the user, the page; no count
        assert total(client.get(URL)) == 3


@pytest.mark.parametrize(
    ("seconds", "min_items"),
    [(60, 4), (0, 1)],
    ids=["a total below the threshold", "zero seconds turns the cache off"],
)
def test_an_uncached_total_is_always_exact(client_for, reviewer, settings, seconds, min_items):
    settings.LIST_COUNT_CACHE_SECONDS = seconds
    settings.LIST_COUNT_CACHE_MIN_ITEMS = min_items
    client = client_for(reviewer)
    assert total(client.get(URL)) == 3
    InterviewFactory(employee=UserFactory(organization_id=reviewer.organization_id))
    assert total(client.get(URL)) == 4


def test_each_caller_has_its_own_total(client_for, reviewer, settings):
    settings.LIST_COUNT_CACHE_SECONDS = 60
    settings.LIST_COUNT_CACHE_MIN_ITEMS = 1
    assert total(client_for(reviewer).get(URL)) == 3
    outsider = UserFactory(role=Role.STAFF, organization_id=uuid.uuid4())
    InterviewFactory(employee=UserFactory(organization_id=outsider.organization_id))
    assert total(client_for(outsider).get(URL)) == 1
