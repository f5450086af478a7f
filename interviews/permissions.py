"""Who may do what with an interview: the one place that decides cross-user access.

Used by every REST endpoint (as a DRF permission class) and by the WebSocket consumer
(through :meth:`InterviewAccessPermission.check`), and by the list selectors through
:func:`scope_of` / :func:`scope_filter`.
"""

from enum import StrEnum

from django.db.models import Q
from rest_framework.permissions import BasePermission

from accounts.models import Role
from interviews.exceptions import InterviewAccessDenied
from interviews.models import InterviewStatus
from interviewsvc.errors import PermissionDenied


class Action(StrEnum):
    VIEW = "view"  # read the interview, its messages, observe its stream
    EXPORT = "export"  # download the transcript (same reach as view)
    PARTICIPATE = "participate"  # answer questions: the interviewee only
    CHANGE_STATUS = "change_status"  # PATCH status
    REVIEW = "review"  # read and add reviews: staff/admins of the interview's organization
    DELETE = "delete"  # soft-delete: admins of the interview's organization, superusers


class Scope(StrEnum):
    OWN = "own"
    ORGANIZATION = "organization"
    ALL = "all"


# Employees may do these to their own interviews; admins (and superusers) any transition.
OWNER_STATUSES = {InterviewStatus.PAUSED, InterviewStatus.IN_PROGRESS, InterviewStatus.CANCELLED}


def is_reviewer(user) -> bool:
    """Staff, admins and superusers: the roles that review, read across their organization and
    export in bulk. What they reach is still :func:`scope_of`'s (no organization, no wildcard)."""
    return user.is_superuser or user.role in (Role.STAFF, Role.ADMIN)


def is_admin_reviewer(user) -> bool:
    """May use the interview pages of Django admin: an active staff account (Django's own gate
    to admin) with a reviewing role. Interviews, the dashboard and the export log all ask this."""
    return user.is_active and user.is_staff and is_reviewer(user)


def is_admin(user) -> bool:
    """Admins and superusers: any status transition (the API's PATCH and Django admin; employees
    only ``OWNER_STATUSES`` of their own interviews, staff none) and regenerating reports."""
    return user.is_superuser or user.role == Role.ADMIN


def is_admin_site_admin(user) -> bool:
    """May delete and restore interviews in Django admin: an active staff account with the
    admin role (or a superuser), the API's DELETE rule for the admin's pages."""
    return user.is_active and user.is_staff and is_admin(user)


def scope_of(user) -> Scope:
    """The widest set of interviews ``user`` may read.

    Staff and admins without an organization see only their own: a missing organization is
    never a wildcard.
    """
    if user.is_superuser:
        return Scope.ALL
    if is_reviewer(user) and user.organization_id is not None:
        return Scope.ORGANIZATION
    return Scope.OWN


def scope_filter(user) -> Q:
    scope = scope_of(user)
    if scope is Scope.ALL:
        return Q()
    if scope is Scope.ORGANIZATION:
        return Q(organization_id=user.organization_id) | Q(employee_id=user.employee_id)
    return Q(employee_id=user.employee_id)


def is_owner(user, interview) -> bool:
    return interview.employee_id == user.employee_id


def can_view(user, interview) -> bool:
    scope = scope_of(user)
    return (
        scope is Scope.ALL
        or is_owner(user, interview)
        or (scope is Scope.ORGANIZATION and interview.organization_id == user.organization_id)
    )


class InterviewAccessPermission(BasePermission):
    """Object permission for an interview; the view names the action in ``interview_action``.

    Raises the project's errors instead of returning False, so the client learns *why*:
    ``interview_access_denied`` when the interview is outside the caller's reach (never a
    404), ``permission_denied`` when the caller sees it but its role is too low.
    """

    def has_permission(self, request, view) -> bool:
        return bool(request.user and request.user.is_authenticated)

    def has_object_permission(self, request, view, obj) -> bool:
        action = view.interview_action(request) if callable(view.interview_action) else view.interview_action
        target = (
            request.data.get("status") if action is Action.CHANGE_STATUS and isinstance(request.data, dict) else None
        )
        self.check(request.user, obj, action, target_status=target)
        return True

    @staticmethod
    def check(user, interview, action: Action, *, target_status: str | None = None) -> None:
        if not can_view(user, interview):
            raise InterviewAccessDenied()
        if action in (Action.VIEW, Action.EXPORT):
            return
        if action is Action.PARTICIPATE:
            if not is_owner(user, interview):
                raise PermissionDenied("Only the interviewee may answer; you may observe this interview.")
            return
        if action is Action.CHANGE_STATUS:
            if is_admin(user):
                return
            if is_owner(user, interview) and (target_status is None or target_status in OWNER_STATUSES):
                return
            if is_owner(user, interview):
                raise PermissionDenied("You may pause, resume or cancel your interview, not complete it.")
            raise PermissionDenied("Your role may read this interview but not change its status.")
        if action is Action.REVIEW:
            if not can_review(user, interview):
                raise PermissionDenied("Only staff and admins of the interview's organization review it.")
            return
        if action is Action.DELETE:
            if not can_delete(user, interview):
                raise PermissionDenied("Only admins of the interview's organization delete it.")
            return
        raise PermissionDenied()


def can_review(user, interview) -> bool:
    """Reviews (reading and writing them) are for superusers and for staff and admins of the
    interview's organization; employees never see them, not even on their own interview."""
    if user.is_superuser:
        return True
    return is_reviewer(user) and user.organization_id is not None and interview.organization_id == user.organization_id


def can_delete(user, interview) -> bool:
    """Soft delete is for superusers and for admins of the interview's organization. Not staff
    (they read and review) and not employees, even their own: an employee who wants their data
    gone asks for erasure (docs/admin.md), which an admin carries out and the audit log keeps."""
    if user.is_superuser:
        return True
    same_organization = user.organization_id is not None and interview.organization_id == user.organization_id
    return is_admin(user) and same_organization


def require_staff(user) -> None:
    """Bulk operations across interviews (bulk export) are for staff, admins and superusers."""
    if not is_reviewer(user):
        raise PermissionDenied("Only staff and admins may do this.")
