import uuid

from accounts.models import Role, User


def _username_free(base: str) -> str:
    base = (base or "user")[:140]
    candidate, n = base, 1
    while User.objects.filter(username=candidate).exists():
        n += 1
        candidate = f"{base}-{n}"
    return candidate


def user_provision_from_claims(*, employee_id: uuid.UUID, claims: dict) -> User:
    """Create the local user for a valid external token seen for the first time.

    Role and organization come from the claims once; afterwards the local row is the truth
    (an admin may change it here).
    """
    role = claims.get("role") if claims.get("role") in Role.values else Role.EMPLOYEE
    organization_id = claims.get("organization_id") or None
    if organization_id is not None:
        organization_id = uuid.UUID(str(organization_id))
    username = claims.get("username") or claims.get("preferred_username") or claims.get("user_id") or claims.get("sub")
    user = User(
        username=_username_free(str(username or f"employee-{employee_id}")),
        email=str(claims.get("email") or "")[:254],
        employee_id=employee_id,
        role=role,
        organization_id=organization_id,
    )
    user.set_unusable_password()
    user.save()
    return user


def user_create(
    *,
    username: str,
    password: str | None,
    role: str = Role.EMPLOYEE,
    email: str = "",
    organization_id: uuid.UUID | None = None,
    is_superuser: bool = False,
) -> User:
    user = User(
        username=username,
        email=email,
        role=role,
        organization_id=organization_id,
        is_staff=is_superuser or role in (Role.STAFF, Role.ADMIN),
        is_superuser=is_superuser,
    )
    if password:
        user.set_password(password)
    else:
        user.set_unusable_password()
    user.save()
    return user
