"""Admin of user accounts, with the erasure of an employee's data (docs/admin.md)."""

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.db.models import QuerySet
from django.template.response import TemplateResponse

from accounts.models import User
from interviews.models import Interview
from interviews.services.lifecycle import employee_erase


@admin.action(description="Erase selected employees' interview data (cannot be undone)", permissions=["erase"])
def erase_employee_data(modeladmin, request, queryset: QuerySet):
    """Two steps: a confirmation page with the counts, then (``confirm``) the erasure."""
    users = list(queryset.order_by("username"))
    if request.POST.get("confirm") != "yes":
        counts = {user.pk: Interview.all_objects.filter(employee=user).count() for user in users}
        context = {
            **modeladmin.admin_site.each_context(request),
            "title": "Erase employee data",
            "opts": modeladmin.model._meta,
            "rows": [(user, counts[user.pk]) for user in users],
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/accounts/user/erase_confirmation.html", context)
    for user in users:
        record = employee_erase(employee=user, requested_by=request.user)
        modeladmin.message_user(
            request,
            f"Erased {record.interview_count} interview(s) of {user.employee_id}; the account is deactivated.",
            level=messages.SUCCESS,
        )
    return None


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    list_display = ["username", "email", "role", "organization_id", "employee_id", "is_staff", "is_active"]
    list_filter = ["role", "is_staff", "is_superuser", "is_active"]
    search_fields = ["username", "email", "=employee_id"]
    readonly_fields = ["employee_id"]
    fieldsets = [
        *DjangoUserAdmin.fieldsets,
        ("Interviews", {"fields": ["employee_id", "role", "organization_id"]}),
    ]
    actions = [erase_employee_data]

    def has_erase_permission(self, request) -> bool:
        # Erasure removes data for good: superusers only, and the audit log names them.
        return request.user.is_active and request.user.is_superuser

    add_fieldsets = [
        *DjangoUserAdmin.add_fieldsets,
        ("Interviews", {"fields": ["role", "organization_id"]}),
    ]
