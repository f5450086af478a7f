"""The login form of the admin and of the HTML pages."""

from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.core.validators import MaxLengthValidator

from accounts.serializers import CredentialsInputSerializer

PASSWORD_MAX_CHARS = CredentialsInputSerializer().fields["password"].max_length  # as the API


class BoundedLoginMixin:
    """The API's bounds on username and password, for Django's login forms.

    Django sets the username's ``max_length`` only on the HTML input, so a longer one reached
    ``authenticate()``, and axes then recorded it in a ``varchar(255)``: a 500 on PostgreSQL.
    A value over the bound is now a form error, before anything is authenticated or recorded.
    """

    def __init__(self, request=None, *args, **kwargs) -> None:
        super().__init__(request, *args, **kwargs)
        self.fields["username"].validators.append(MaxLengthValidator(self.fields["username"].max_length))
        self.fields["password"].max_length = PASSWORD_MAX_CHARS
        self.fields["password"].validators.append(MaxLengthValidator(PASSWORD_MAX_CHARS))


class LoginForm(BoundedLoginMixin, AuthenticationForm):
    """The HTML pages' login (/login/)."""


class AdminLoginForm(BoundedLoginMixin, AdminAuthenticationForm):
    """The admin's login: staff only, as Django's."""
