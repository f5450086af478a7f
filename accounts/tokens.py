from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.tokens import AccessToken


class ServiceAccessToken(AccessToken):
    """An access token minted here or by the external auth service.

    External services need not send simplejwt's ``token_type`` or ``jti`` claims; a token
    that does carry ``token_type`` must say ``access`` (a refresh token is never accepted as
    an access token). Signature, ``exp``, issuer and audience are checked as usual.
    """

    def verify(self) -> None:
        self.check_exp()
        token_type = self.payload.get(api_settings.TOKEN_TYPE_CLAIM)
        if token_type is not None and token_type != self.token_type:
            raise TokenError("Token has wrong type")
