"""Django admin for reviewers: staff see their organization's interviews, superusers all."""

from django import forms
from django.contrib import admin, messages
from django.db import models
from django.db.models import F, QuerySet
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from accounts.models import Role
from interviews.engine.plans import LANGUAGES, LEVELS, builtin_plan_data, plan_spec
from interviews.exports.admin import ExportActionForm, export_selected_interviews
from interviews.models import Interview, InterviewMessage, InterviewPlan, InterviewSource
from interviews.permissions import scope_filter
from interviews.services import ALLOWED_TRANSITIONS, interview_plan_save, interview_status_change
from interviewsvc.errors import ServiceError
from interviewsvc.forms import json_formfield


class InterviewAdminForm(forms.ModelForm):
    class Meta:
        model = Interview
        fields = ["status"]

    def clean_status(self) -> str:
        new, old = self.cleaned_data["status"], self.instance.status
        if new != old and new not in ALLOWED_TRANSITIONS.get(old, set()):
            raise forms.ValidationError(f"An interview cannot go from {old} to {new}.")
        return new


class InterviewMessageInline(admin.TabularInline):
    """The transcript, in order, read-only: speaker and time per turn; imported turns marked."""

    model = InterviewMessage
    fields = ["sequence_number", "speaker", "created_at", "content", "evaluation"]
    readonly_fields = fields
    ordering = ["sequence_number"]
    extra = 0
    can_delete = False
    show_change_link = False

    def get_queryset(self, request) -> QuerySet[InterviewMessage]:
        # The interview's source comes with each row (a join), not one query per turn.
        return super().get_queryset(request).annotate(interview_source=F("interview__source"))

    @admin.display(description="Role")
    def speaker(self, obj: InterviewMessage) -> str:
        # Every turn of a migrated interview was written in another system.
        imported = getattr(obj, "interview_source", None) == InterviewSource.MIGRATED
        return obj.get_role_display() + (" (imported)" if imported else "")

    def has_view_permission(self, request, obj=None) -> bool:
        return _is_reviewer(request.user)

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Interview)
class InterviewAdmin(admin.ModelAdmin):
    form = InterviewAdminForm
    list_display = [
        "id",
        "status",
        "language",
        "technical_level",
        "employee_name",
        "organization_id",
        "message_count",
        "duration",
        "started_at",
    ]
    list_filter = ["status", "language", "technical_level", "source", "plan"]
    date_hierarchy = "started_at"
    search_fields = [
        "=id",
        "=employee__employee_id",
        "employee__username",
        "employee__email",
        "messages__content",
    ]
    search_help_text = "Interview id, employee id, username, email or message text"
    list_select_related = ["employee"]
    readonly_fields = [
        "id",
        "employee",
        "organization_id",
        "plan",
        "source_shown",
        "session_id",
        "message_count",
        "question_count",
        "started_at",
        "completed_at",
        "created_at",
        "updated_at",
        "engine_state",
    ]
    readonly_fields = ["live_view", "language", "technical_level", *readonly_fields]
    fields = ["status", *readonly_fields]
    inlines = [InterviewMessageInline]
    show_full_result_count = False
    actions = [export_selected_interviews]
    action_form = ExportActionForm

    def get_queryset(self, request) -> QuerySet[Interview]:
        # Applies to the list, change, delete and history views alike.
        return super().get_queryset(request).filter(scope_filter(request.user))

    @admin.display(description="Live")
    def live_view(self, obj: Interview) -> str:
        # The observer page follows the interview over the WebSocket (docs/realtime.md).
        return format_html('<a href="{}">Watch live</a>', reverse("pages-watch", args=[obj.id]))

    @admin.display(description="Source")
    def source_shown(self, obj: Interview) -> str:
        if obj.source == InterviewSource.MIGRATED:
            return "Migrated — turns imported from another system"
        return obj.get_source_display()

    @admin.display(description="Employee", ordering="employee__username")
    def employee_name(self, obj: Interview) -> str:
        return obj.employee.username

    @admin.display(description="Duration", ordering=F("completed_at") - F("started_at"))
    def duration(self, obj: Interview) -> str:
        seconds = obj.duration_seconds
        if seconds is None:
            return "—"
        minutes, secs = divmod(int(seconds), 60)
        return f"{minutes} min {secs:02d} s"

    # Application roles, not Django model permissions, decide who reviews: staff read,
    # admins also change status, only superusers delete. Objects are already scoped above.
    def has_module_permission(self, request) -> bool:
        return _is_reviewer(request.user)

    def has_view_permission(self, request, obj=None) -> bool:
        return _is_reviewer(request.user)

    def has_change_permission(self, request, obj=None) -> bool:
        return request.user.is_superuser or request.user.role == Role.ADMIN

    def has_delete_permission(self, request, obj=None) -> bool:
        return request.user.is_superuser

    def has_add_permission(self, request) -> bool:
        # Interviews are created by the interviewer, never by hand.
        return False

    def save_model(self, request, obj, form, change) -> None:
        # Status changes go through the service: transitions are checked and open sockets
        # hear about it. No other field is editable here.
        if "status" in form.changed_data:
            try:
                interview_status_change(interview_id=obj.id, status=obj.status, actor=request.user)
            except ServiceError as exc:
                self.message_user(request, exc.message, level=messages.ERROR)


def _is_reviewer(user) -> bool:
    return user.is_active and user.is_staff and (user.is_superuser or user.role in (Role.STAFF, Role.ADMIN))


@admin.register(InterviewPlan)
class InterviewPlanAdmin(admin.ModelAdmin):
    """Interview plans for the scripted interviewer (format: docs/engine.md).

    Plans are global, not per organization, so Django model permissions decide who edits them
    (superusers, or users granted ``interviews.*_interviewplan``). A plan used by interviews
    cannot be deleted; deactivate it instead.
    """

    list_display = ["name", "slug", "is_default", "is_active", "topic_count", "updated_at"]
    list_filter = ["is_active", "is_default"]
    search_fields = ["name", "slug", "description"]
    prepopulated_fields = {"slug": ["name"]}
    readonly_fields = ["preview", "created_at", "updated_at"]
    fields = [
        "name",
        "slug",
        "description",
        "is_active",
        "is_default",
        "topics",
        "follow_up",
        "closing",
        "preview",
        "created_at",
        "updated_at",
    ]

    @admin.display(description="Topics")
    def topic_count(self, obj: InterviewPlan) -> int:
        return len(obj.topics) if isinstance(obj.topics, list) else 0

    @admin.display(description="Questions as asked")
    def preview(self, obj: InterviewPlan) -> str:
        if obj.pk is None:
            return "Save the plan to preview its questions."
        spec = plan_spec(obj)
        if spec.slug is None:
            return "The plan is invalid; the built-in plan is used until it is fixed."
        header = format_html_join("", "<th>{} / {}</th>", ((lang, level) for lang in LANGUAGES for level in LEVELS))
        rows = format_html_join(
            "",
            "<tr><td>{}</td>{}</tr>",
            (
                (
                    i + 1,
                    format_html_join(
                        "",
                        "<td>{}</td>",
                        ((spec.question(i, lang, level),) for lang in LANGUAGES for level in LEVELS),
                    ),
                )
                for i in range(spec.total)
            ),
        )
        return format_html("<table><tr><th>#</th>{}</tr>{}</table>", header, rows)

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        # Empty follow_up/closing store {} ("the built-in one"), not NULL; deep JSON is refused.
        if isinstance(db_field, models.JSONField):
            return json_formfield(db_field, **kwargs)
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def get_changeform_initial_data(self, request) -> dict:
        # A new plan starts from the built-in one's first topic and messages, as an example.
        builtin = builtin_plan_data()
        return {
            **super().get_changeform_initial_data(request),
            "topics": builtin["topics"][:1],
            "follow_up": builtin["follow_up"],
            "closing": builtin["closing"],
        }

    def save_model(self, request, obj, form, change) -> None:
        interview_plan_save(plan=obj)
