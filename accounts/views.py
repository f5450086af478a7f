"""Token endpoints and ``auth/me``, in the project's envelope."""

from django.contrib.auth import authenticate
from drf_spectacular.utils import extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.views import APIView
from rest_framework_simplejwt.exceptions import AuthenticationFailed, InvalidToken, TokenError
from rest_framework_simplejwt.serializers import TokenRefreshSerializer
from rest_framework_simplejwt.tokens import RefreshToken, UntypedToken

from accounts.authentication import user_from_token
from accounts.lockout import LoginLocked
from accounts.models import User
from accounts.serializers import (
    CredentialsInputSerializer,
    RefreshInputSerializer,
    TokenObtainSerializer,
    TokenPairOutputSerializer,
    UserOutputSerializer,
    VerifyInputSerializer,
)
from interviewsvc.api import success, validated
from interviewsvc.errors import ServiceError
from interviewsvc.schema import envelope, errors_for


class InvalidCredentials(ServiceError):
    status_code = 401
    error_code = "invalid_credentials"
    default_message = "No active account found with the given credentials"


class TokenInvalid(ServiceError):
    status_code = 401
    error_code = "token_invalid"
    default_message = "Token is invalid, expired or revoked."


class TokenObtainView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        request=CredentialsInputSerializer,
        responses={200: envelope(TokenPairOutputSerializer), **errors_for(400, 401, 413, 422, 429)},
        tags=["auth"],
    )
    def post(self, request):
        data = validated(CredentialsInputSerializer, request.data)
        # django-axes (first in AUTHENTICATION_BACKENDS) refuses a locked-out login before any
        # password is checked, and counts this failure; it flags the request it was given.
        user = authenticate(request, username=data["username"], password=data["password"])
        if user is None and getattr(request, "axes_locked_out", False):
            raise LoginLocked()
        if user is None or not user.is_active:
            raise InvalidCredentials()
        refresh = TokenObtainSerializer.get_token(user)
        return success(request, {"access": str(refresh.access_token), "refresh": str(refresh)}, "Tokens issued")


class TokenRefreshView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        request=RefreshInputSerializer,
        responses={200: envelope(TokenPairOutputSerializer), **errors_for(400, 401, 413, 422, 429)},
        tags=["auth"],
    )
    def post(self, request):
        data = validated(RefreshInputSerializer, request.data)
        serializer = TokenRefreshSerializer(data={"refresh": data["refresh"]})
        try:
            serializer.is_valid(raise_exception=True)
        except (TokenError, User.DoesNotExist) as exc:
            # simplejwt looks the token's user up with .get(): a deleted user raises DoesNotExist.
            raise TokenInvalid() from exc
        except Exception as exc:  # simplejwt raises InvalidToken/AuthenticationFailed subclasses
            if getattr(exc, "status_code", None) == 401:
                raise TokenInvalid() from exc
            raise
        tokens = serializer.validated_data
        return success(request, {"access": tokens["access"], "refresh": tokens["refresh"]}, "Tokens refreshed")


class TokenVerifyView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        request=VerifyInputSerializer,
        responses={200: envelope(None), **errors_for(400, 401, 413, 422, 429)},
        tags=["auth"],
    )
    def post(self, request):
        data = validated(VerifyInputSerializer, request.data)
        try:
            token = UntypedToken(data["token"])
            if token.get("token_type") == "refresh":
                RefreshToken(data["token"]).check_blacklist()
            # Valid means usable: not for a user deleted or deactivated since it was issued.
            user_from_token(token, provision=False)
        except (TokenError, InvalidToken, AuthenticationFailed) as exc:
            raise TokenInvalid() from exc
        return success(request, None, "Token is valid")


class LogoutView(APIView):
    @extend_schema(
        request=RefreshInputSerializer,
        responses={200: envelope(None), **errors_for(400, 401, 413, 422, 429)},
        tags=["auth"],
    )
    def post(self, request):
        data = validated(RefreshInputSerializer, request.data)
        try:
            token = RefreshToken(data["refresh"])
        except TokenError as exc:
            raise TokenInvalid() from exc
        if str(token.get("user_id")) != str(request.user.pk):
            raise TokenInvalid("That refresh token belongs to another user.")
        token.blacklist()
        return success(request, None, "Logged out")


class MeView(APIView):
    @extend_schema(responses={200: envelope(UserOutputSerializer), **errors_for(401, 429)}, tags=["auth"])
    def get(self, request):
        return success(request, UserOutputSerializer(request.user).data, "Current user")
