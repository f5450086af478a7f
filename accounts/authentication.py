"""Bearer JWT authentication for tokens minted here and by the external auth service."""

import uuid

from django.db import IntegrityError, transaction
from rest_framework_simplejwt import authentication
from rest_framework_simplejwt.exceptions import AuthenticationFailed, InvalidToken
from rest_framework_simplejwt.tokens import Token

from accounts.models import Role, User
from accounts.services import user_provision_from_claims
from interviewsvc.logging import bind_user


def _uuid_or_none(value) -> uuid.UUID | None:
    if value in (None, ""):
        return None
    try:
        return uuid.UUID(str(value))
    except ValueError as exc:
        raise InvalidToken("Token claim is not a valid UUID.") from exc


# Set on every token minted here (accounts.serializers.token_claims_set): its user existed when
# it was issued, so an unknown employee_id means the user was deleted, not that it is new.
LOCAL_TOKEN_CLAIM = "local"


def _minted_here(validated_token: Token) -> bool:
    # Refresh tokens are only ever minted here; access tokens say so with LOCAL_TOKEN_CLAIM.
    return validated_token.get(LOCAL_TOKEN_CLAIM) is True or validated_token.get("token_type") == "refresh"


def user_from_token(validated_token: Token, *, provision: bool = True) -> User | None:
    """Find the user a validated token speaks for, provisioning an unknown external user.

    ``employee_id`` is the identity shared across services, so it is tried first; a token
    without it names a local user by ``user_id`` (or ``sub``). A token minted here whose user
    is gone (deleted) is refused, never provisioned again from its claims; an inactive user is
    refused. ``None`` only with ``provision=False``, for an external user not seen yet.
    """
    employee_id = _uuid_or_none(validated_token.get("employee_id"))
    user: User | None
    if employee_id is not None:
        user = User.objects.filter(employee_id=employee_id).first()
        if user is None:
            if _minted_here(validated_token):
                raise AuthenticationFailed("User not found", code="user_not_found")
            if not provision:
                return None
            try:
                with transaction.atomic():
                    user = user_provision_from_claims(employee_id=employee_id, claims=dict(validated_token.payload))
            except IntegrityError:
                # Two first requests of the same new user raced; the other one created it.
                user = User.objects.get(employee_id=employee_id)
    else:
        user_id = validated_token.get("user_id", validated_token.get("sub"))
        if user_id is None:
            raise InvalidToken("Token contained no recognizable user identification")
        try:
            user = User.objects.get(pk=int(user_id))
        except (User.DoesNotExist, ValueError, TypeError) as exc:
            raise AuthenticationFailed("User not found", code="user_not_found") from exc
    if not user.is_active:
        raise AuthenticationFailed("User is inactive", code="user_inactive")
    return user


class JWTAuthentication(authentication.JWTAuthentication):
    def get_user(self, validated_token: Token) -> User:
        user = user_from_token(validated_token)
        bind_user(user)
        return user


__all__ = ["LOCAL_TOKEN_CLAIM", "JWTAuthentication", "Role", "user_from_token"]
