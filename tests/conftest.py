import pytest
from django.conf import settings
from rest_framework.test import APIClient

from accounts.models import Role
from accounts.serializers import TokenObtainSerializer
from tests.factories import ORG_A, ORG_B, UserFactory

ON_POSTGRES = settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"


def pytest_collection_modifyitems(config, items):
    # Concurrency tests need real row locks: they run in the PostgreSQL pass of ./dev test
    # (.ci/run does both passes), and say so when skipped on SQLite.
    skip_pg = pytest.mark.skip(reason="needs PostgreSQL: runs in the DATABASE_URL=postgres pass")
    for item in items:
        if "postgres" in item.keywords and not ON_POSTGRES:
            item.add_marker(skip_pg)


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """Close psycopg's connection pool before the test database is dropped.

    PostgreSQL refuses to drop a database with sessions on it, and connections closed in a test
    only go back to the pool, which keeps them open (``DATABASE_POOL_MIN_SIZE``).
    """
    yield
    import gc

    from django.db import connections

    with django_db_blocker.unblock():
        for connection in connections.all(initialized_only=True):
            connection.close()
            if hasattr(connection, "close_pool"):
                connection.close_pool()
    # Worker threads of async tests (thread_sensitive=False) have exited, leaving their
    # connections to the garbage collector: collect them now so their sessions end.
    gc.collect()


def bearer(user) -> str:
    return f"Bearer {TokenObtainSerializer.get_token(user).access_token}"


class Client(APIClient):
    def as_user(self, user):
        self.credentials(HTTP_AUTHORIZATION=bearer(user))
        return self


@pytest.fixture
def client_for(db):
    """``client_for(user)``: an API client sending that user's access token."""

    def make(user=None):
        client = Client()
        return client.as_user(user) if user is not None else client

    return make


@pytest.fixture
def employee(db):
    return UserFactory(role=Role.EMPLOYEE, organization_id=ORG_A)


@pytest.fixture
def other_employee(db):
    return UserFactory(role=Role.EMPLOYEE, organization_id=ORG_A)


@pytest.fixture
def staff(db):
    return UserFactory(role=Role.STAFF, organization_id=ORG_A)


@pytest.fixture
def admin_user(db):
    return UserFactory(role=Role.ADMIN, organization_id=ORG_A)


@pytest.fixture
def foreign_admin(db):
    return UserFactory(role=Role.ADMIN, organization_id=ORG_B)


@pytest.fixture
def superuser(db):
    return UserFactory(role=Role.ADMIN, organization_id=ORG_B, is_superuser=True, is_staff=True)
