import uuid
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.test import override_settings
from rest_framework_simplejwt import settings as jwt_settings

from accounts.models import Role, User
from tests.factories import ORG_A, PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


def obtain(client, user):
    response = client.post("/api/v1/auth/token", {"username": user.username, "password": PASSWORD}, format="json")
    assert response.status_code == 200, response.content
    return response.json()["data"]


def test_token_obtain_returns_pair_in_envelope(client_for, employee):
    response = client_for().post(
        "/api/v1/auth/token/", {"username": employee.username, "password": PASSWORD}, format="json"
    )
    body = response.json()
    assert response.status_code == 200
    assert body["status"] == "success"
    assert body["code"] == 200
    assert set(body["data"]) == {"access", "refresh"}
    assert response["X-Request-ID"] == body["meta"]["request_id"]


def test_wrong_password_is_invalid_credentials(client_for, employee):
    response = client_for().post("/api/v1/auth/token", {"username": employee.username, "password": "nope"})
    body = response.json()
    assert response.status_code == 401
    assert body["error_code"] == "invalid_credentials"
    assert body["status"] == "error"
    assert body["data"] is None


def test_me_returns_the_current_user(client_for, employee):
    client = client_for()
    tokens = obtain(client, employee)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
    data = client.get("/api/v1/auth/me").json()["data"]
    assert data == {
        "id": employee.id,
        "username": employee.username,
        "email": employee.email,
        "employee_id": str(employee.employee_id),
        "role": "employee",
        "organization_id": str(ORG_A),
    }


def test_no_token_is_not_authenticated(client_for):
    response = client_for().get("/api/v1/auth/me")
    assert response.status_code == 401
    assert response.json()["error_code"] == "not_authenticated"


def test_garbage_token_is_token_invalid(client_for):
    client = client_for()
    client.credentials(HTTP_AUTHORIZATION="Bearer not-a-jwt")
    response = client.get("/api/v1/auth/me")
    assert response.status_code == 401
    assert response.json()["error_code"] == "token_invalid"


def test_refresh_rotates_and_blacklists_the_old_refresh(client_for, employee):
    client = client_for()
    tokens = obtain(client, employee)
    first = client.post("/api/v1/auth/token/refresh", {"refresh": tokens["refresh"]})
    assert first.status_code == 200
    assert first.json()["data"]["refresh"] != tokens["refresh"]
    again = client.post("/api/v1/auth/token/refresh", {"refresh": tokens["refresh"]})
    assert again.status_code == 401
    assert again.json()["error_code"] == "token_invalid"


def test_verify(client_for, employee):
    client = client_for()
    tokens = obtain(client, employee)
    assert client.post("/api/v1/auth/token/verify", {"token": tokens["access"]}).status_code == 200
    bad = client.post("/api/v1/auth/token/verify", {"token": tokens["access"] + "x"})
    assert bad.status_code == 401
    assert bad.json()["error_code"] == "token_invalid"


def test_logout_blacklists_the_refresh_token(client_for, employee):
    client = client_for()
    tokens = obtain(client, employee)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
    assert client.post("/api/v1/auth/logout", {"refresh": tokens["refresh"]}).status_code == 200
    assert client.post("/api/v1/auth/token/refresh", {"refresh": tokens["refresh"]}).status_code == 401
    assert client.post("/api/v1/auth/token/verify", {"token": tokens["refresh"]}).status_code == 401


def test_refresh_token_is_not_accepted_as_access(client_for, employee):
    client = client_for()
    tokens = obtain(client, employee)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['refresh']}")
    response = client.get("/api/v1/auth/me")
    assert response.status_code == 401
    assert response.json()["error_code"] == "token_invalid"


# --- tokens of users deleted or deactivated since they were issued ------------------------------


def assert_token_invalid(response):
    assert response.status_code == 401, response.content
    body = response.json()
    assert (body["status"], body["error_code"], body["data"]) == ("error", "token_invalid", None)


@pytest.mark.parametrize("gone", ["deleted", "deactivated"])
def test_tokens_of_a_user_gone_since_are_401(client_for, gone):
    user = UserFactory(role=Role.ADMIN)
    client = client_for()
    tokens = obtain(client, user)
    if gone == "deleted":
        user.delete()
    else:
        User.objects.filter(pk=user.pk).update(is_active=False)

    assert_token_invalid(client.post("/api/v1/auth/token/refresh", {"refresh": tokens["refresh"]}))
    assert_token_invalid(client.post("/api/v1/auth/token/verify", {"token": tokens["refresh"]}))
    assert_token_invalid(client.post("/api/v1/auth/token/verify", {"token": tokens["access"]}))
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
    assert_token_invalid(client.get("/api/v1/auth/me"))
    # A deleted user's token does not provision the user again from its claims (role: admin).
    assert User.objects.filter(employee_id=user.employee_id).count() == (0 if gone == "deleted" else 1)


# --- tokens from the external auth service -----------------------------------------------------


def external_claims(**overrides):
    now = datetime.now(UTC)
    claims = {
        "sub": "ext-42",
        "employee_id": str(uuid.uuid4()),
        "role": "staff",
        "organization_id": str(ORG_A),
        "email": "ext@example.com",
        "iat": now,
        "exp": now + timedelta(minutes=5),
    }
    claims.update(overrides)
    return claims


def test_external_hs256_token_provisions_unknown_user(client_for, settings):
    key = "shared-secret-with-the-auth-service-0123456789"
    claims = external_claims()
    token = jwt.encode(claims, key, algorithm="HS256")
    with _jwt_settings(ALGORITHM="HS256", SIGNING_KEY=key, VERIFYING_KEY=None):
        client = client_for()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        response = client.get("/api/v1/auth/me")
        assert response.status_code == 200, response.content
        again = client.get("/api/v1/auth/me")
    data = response.json()["data"]
    assert data["employee_id"] == claims["employee_id"]
    assert data["role"] == "staff"
    assert data["organization_id"] == str(ORG_A)
    assert again.json()["data"]["id"] == data["id"]
    assert User.objects.filter(employee_id=claims["employee_id"]).count() == 1


def test_external_rs256_token_with_issuer_and_audience(client_for):
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public_pem = (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    existing = UserFactory(role=Role.EMPLOYEE)
    claims = external_claims(employee_id=str(existing.employee_id), iss="https://auth.example", aud="interviewsvc")
    good = jwt.encode(claims, private_pem, algorithm="RS256")
    wrong_aud = jwt.encode({**claims, "aud": "other"}, private_pem, algorithm="RS256")
    with _jwt_settings(
        ALGORITHM="RS256",
        SIGNING_KEY=private_pem,
        VERIFYING_KEY=public_pem,
        ISSUER="https://auth.example",
        AUDIENCE="interviewsvc",
    ):
        client = client_for()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {good}")
        ok = client.get("/api/v1/auth/me")
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {wrong_aud}")
        refused = client.get("/api/v1/auth/me")
    assert ok.status_code == 200, ok.content
    # An existing user keeps its local role: the claims only provision new users.
    assert ok.json()["data"]["id"] == existing.id
    assert ok.json()["data"]["role"] == "employee"
    assert refused.status_code == 401
    assert refused.json()["error_code"] == "token_invalid"


def test_expired_external_token_is_refused(client_for):
    key = "shared-secret-with-the-auth-service-0123456789"
    past = datetime.now(UTC) - timedelta(hours=1)
    token = jwt.encode(external_claims(iat=past, exp=past + timedelta(minutes=5)), key, algorithm="HS256")
    with _jwt_settings(ALGORITHM="HS256", SIGNING_KEY=key, VERIFYING_KEY=None):
        client = client_for()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        response = client.get("/api/v1/auth/me")
    assert response.status_code == 401
    assert response.json()["error_code"] == "token_invalid"
    assert User.objects.count() == 0


class _jwt_settings:  # noqa: N801 - used like override_settings
    """Override SIMPLE_JWT and drop simplejwt's cached settings and token backend."""

    def __init__(self, **values):
        from django.conf import settings

        self.override = override_settings(SIMPLE_JWT={**settings.SIMPLE_JWT, **values})

    def _reset(self):
        from rest_framework_simplejwt import state

        # override_settings swaps simplejwt's settings object; the token backend is built
        # once at import, so rebuild it from the current settings.
        api_settings = jwt_settings.api_settings
        state.token_backend = state.TokenBackend(
            api_settings.ALGORITHM,
            api_settings.SIGNING_KEY,
            api_settings.VERIFYING_KEY,
            api_settings.AUDIENCE,
            api_settings.ISSUER,
            api_settings.JWK_URL,
            api_settings.LEEWAY,
            api_settings.JSON_ENCODER,
        )

    def __enter__(self):
        self.override.enable()
        self._reset()

    def __exit__(self, *exc):
        self.override.disable()
        self._reset()


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/v1/auth/token", {"username": "someone", "password": PASSWORD}),
        ("/api/v1/auth/token/refresh", {"refresh": "x.y.z"}),
        ("/api/v1/auth/token/verify", {"token": "x.y.z"}),
        ("/api/v1/auth/logout", {"refresh": "x.y.z"}),
    ],
)
def test_auth_bodies_refuse_fields_they_do_not_declare(client_for, employee, path, body):
    # docs/api.md ("Envelopes and errors"): an unknown field is a 422, checked before anything else (the schema says
    # additionalProperties: false for these bodies too).
    response = client_for(employee).post(path, {**body, "remember_me": True}, format="json")
    assert response.status_code == 422, response.content
    assert response.json()["errors"] == [{"field": "remember_me", "error": "Unknown field.", "type": "unknown_field"}]


def test_auth_bodies_declare_that_they_take_no_other_field(client):
    schema = client.get("/api/v1/schema/?format=json").json()
    for path in [
        "/api/v1/auth/token/",
        "/api/v1/auth/token/refresh/",
        "/api/v1/auth/token/verify/",
        "/api/v1/auth/logout/",
    ]:
        ref = schema["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        assert schema["components"]["schemas"][ref.rsplit("/", 1)[1]]["additionalProperties"] is False, path
