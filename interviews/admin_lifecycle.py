"""Admin side of the data lifecycle (docs/admin.md, "Deleting and restoring interviews").

- ``InterviewAdmin``'s delete (its button and the "delete selected" action) soft-deletes:
  :class:`SoftDeleteMixin`, mixed in by ``interviews/admin.py``;
- "Deleted interviews" lists the soft-deleted ones of the admin's organization (superusers: all)
  with the day each will be purged, and restores them;
- "Data deletions" is the read-only audit log of interviews removed for good.
"""

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.utils.html import format_html

from interviews.models import DataDeletion, DeletedInterview
from interviews.permissions import is_admin_site_admin, scope_filter
from interviews.services import lifecycle
from interviewsvc.admin_site import AuditLogAdmin
from interviewsvc.errors import ServiceError


class SoftDeleteMixin:
    """Deleting from the interview admin is a soft delete through the service (who may: the
    API's rule, checked per interview; open sockets close), never a cascade of rows."""

    def has_delete_permission(self, request, obj=None) -> bool:
        return is_admin_site_admin(request.user)

    def get_deleted_objects(self, objs, request):
        # The confirmation page lists the interviews only: nothing cascades from a soft delete.
        return [str(obj) for obj in objs], {DeletedInterview._meta.verbose_name_plural: len(objs)}, set(), []

    def delete_model(self, request, obj) -> None:
        self.delete_queryset(request, [obj])

    def delete_queryset(self, request, queryset) -> None:
        deleted = 0
        for interview in queryset:
            try:
                lifecycle.interview_soft_delete(interview_id=interview.pk, actor=request.user)
                deleted += 1
            except ServiceError as exc:
                self.message_user(request, f"{interview}: {exc.message}", level=messages.ERROR)
        if deleted:
            self.message_user(
                request,
                f"{deleted} interview(s) moved to Deleted interviews: restorable there until the purge.",
                level=messages.WARNING,
            )


@admin.action(description="Restore selected interviews", permissions=["restore"])
def restore_interviews(modeladmin, request, queryset: QuerySet) -> None:
    restored = 0
    for interview in queryset:
        try:
            lifecycle.interview_restore(interview_id=interview.pk)
            restored += 1
        except ServiceError as exc:
            modeladmin.message_user(request, f"{interview}: {exc.message}", level=messages.ERROR)
    modeladmin.message_user(request, f"{restored} interview(s) restored.", level=messages.SUCCESS)


@admin.register(DeletedInterview)
class DeletedInterviewAdmin(admin.ModelAdmin):
    """Soft-deleted interviews: who deleted them, when, when the purge takes them; restore."""

    list_display = ["id", "employee", "status", "started_at", "deleted_at", "deleted_by", "purged_after"]
    list_select_related = ["employee", "deleted_by"]
    search_fields = ["=id", "=employee__employee_id", "employee__username"]
    ordering = ["-deleted_at"]
    actions = [restore_interviews]
    fields = readonly_fields = list_display

    def get_queryset(self, request) -> QuerySet:
        return super().get_queryset(request).filter(scope_filter(request.user))

    @admin.display(description="Purged after")
    def purged_after(self, obj) -> str:
        return format_html("{}", f"{lifecycle.soft_delete_expiry(obj):%Y-%m-%d %H:%M} UTC")

    def has_module_permission(self, request) -> bool:
        return is_admin_site_admin(request.user)

    def has_view_permission(self, request, obj=None) -> bool:
        return is_admin_site_admin(request.user)

    def has_restore_permission(self, request) -> bool:
        return is_admin_site_admin(request.user)

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # read-only: the restore action is the one change

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # for good only by the purge or an erasure, both audited


@admin.register(DataDeletion)
class DataDeletionAdmin(AuditLogAdmin):
    """Interviews removed for good: why, who asked, how many. Read-only: an audit log."""

    list_display = ["created_at", "reason", "requested_by", "employee_id", "interview_count", "message_count"]
    list_filter = ["reason"]
    search_fields = ["=employee_id"]
    fields = readonly_fields = list_display

    def has_module_permission(self, request) -> bool:
        return request.user.is_active and request.user.is_superuser

    def has_view_permission(self, request, obj=None) -> bool:
        return request.user.is_active and request.user.is_superuser
