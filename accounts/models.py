import uuid

from django.contrib.auth.models import AbstractUser
from django.db import models


class Role(models.TextChoices):
    EMPLOYEE = "employee", "Employee"
    STAFF = "staff", "Staff"
    ADMIN = "admin", "Admin"


class User(AbstractUser):
    """A person who takes interviews (employee) or reviews them (staff, admin).

    ``employee_id`` is the identity shared with other services: interviews point at it and
    external tokens carry it. ``role`` is the application role; Django's ``is_staff`` only
    gates the admin site.
    """

    employee_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.EMPLOYEE)
    organization_id = models.UUIDField(null=True, blank=True, db_index=True)

    class Meta:
        db_table = "accounts_user"

    def __str__(self) -> str:
        return self.username
