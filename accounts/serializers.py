from rest_framework import serializers
from rest_framework_simplejwt.serializers import TokenObtainPairSerializer

from accounts.authentication import LOCAL_TOKEN_CLAIM
from accounts.models import User
from interviewsvc.api import StrictSerializer


def token_claims_set(token, user: User) -> None:
    """Claims every token minted here carries: those an external auth service sends, and
    ``local`` (a token of a user deleted since is refused, not the user provisioned again)."""
    token[LOCAL_TOKEN_CLAIM] = True
    token["employee_id"] = str(user.employee_id)
    token["role"] = user.role
    token["organization_id"] = str(user.organization_id) if user.organization_id else None
    token["username"] = user.username


class TokenObtainSerializer(TokenObtainPairSerializer):
    @classmethod
    def get_token(cls, user):
        token = super().get_token(user)
        token_claims_set(token, user)
        return token


class UserOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ["id", "username", "email", "employee_id", "role", "organization_id"]


class TokenPairOutputSerializer(serializers.Serializer):
    access = serializers.CharField()
    refresh = serializers.CharField()


class CredentialsInputSerializer(StrictSerializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=512, trim_whitespace=False)


class RefreshInputSerializer(StrictSerializer):
    refresh = serializers.CharField(max_length=4096)


class VerifyInputSerializer(StrictSerializer):
    token = serializers.CharField(max_length=4096)
