from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from accounts.models import User


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
    add_fieldsets = [
        *DjangoUserAdmin.add_fieldsets,
        ("Interviews", {"fields": ["role", "organization_id"]}),
    ]
