"""Admin side of exports: the "export selected interviews" action and the read-only audit log.

Imported by ``interviews/admin.py`` (which registers ``InterviewAdmin`` and lists the action).
"""

from django import forms
from django.conf import settings
from django.contrib import admin
from django.contrib.admin.helpers import ActionForm
from django.db.models import QuerySet
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from interviews.exports.archive import archive_entries, archive_filename, zip_chunks
from interviews.exports.formats import FORMATS
from interviews.exports.services import export_record
from interviews.exports.streaming import file_response
from interviews.models import ExportFormat, InterviewExport
from interviews.permissions import is_admin_reviewer


class ExportActionForm(ActionForm):
    """The changelist's action bar, plus the file format the export action writes."""

    format = forms.ChoiceField(
        choices=[(name, ExportFormat(name).label) for name in FORMATS],
        initial=ExportFormat.JSON,
        required=False,
        label="Export format",
    )


@admin.action(description="Export selected interviews (ZIP)", permissions=["view"])
def export_selected_interviews(modeladmin, request, queryset: QuerySet):
    """A ZIP with one file per selected interview; ``queryset`` is already scoped to the reviewer."""
    name = request.POST.get("format") or ExportFormat.JSON
    if name not in FORMATS:
        modeladmin.message_user(request, f'Unknown export format "{name}".', level="error")
        return None
    export_format = FORMATS[name]
    limit = settings.EXPORT_BULK_MAX_INTERVIEWS
    ids = list(queryset.order_by("-started_at", "-id").values_list("id", flat=True)[: limit + 1])
    if len(ids) > limit:
        modeladmin.message_user(request, f"Select at most {limit} interviews per export.", level="error")
        return None
    now = timezone.now()
    export_record(user=request.user, kind=InterviewExport.Kind.ADMIN, export_format=name, interview_ids=ids)
    entries = archive_entries(interview_ids=ids, export_format=export_format, exported_by=request.user, now=now)
    return file_response(request, zip_chunks(entries), filename=archive_filename(now), content_type="application/zip")


@admin.register(InterviewExport)
class InterviewExportAdmin(admin.ModelAdmin):
    """Who exported what, when, in which format. Read-only: an audit log is never edited."""

    list_display = ["created_at", "kind", "format", "interview_count", "exported_by", "interview_link"]
    list_filter = ["kind", "format"]
    date_hierarchy = "created_at"
    search_fields = ["=interview__id", "exported_by__username"]
    list_select_related = ["exported_by"]
    fields = [
        "id",
        "created_at",
        "kind",
        "format",
        "exported_by",
        "organization_id",
        "interview_link",
        "interview_count",
        "interview_ids",
        "filters",
    ]
    readonly_fields = fields

    def get_queryset(self, request) -> QuerySet[InterviewExport]:
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        # Reviewers see the exports of their organization's data; none without an organization.
        return queryset.filter(organization_id=request.user.organization_id, organization_id__isnull=False)

    @admin.display(description="Interview")
    def interview_link(self, obj: InterviewExport) -> str:
        if obj.interview_id is None:
            return "—" if obj.kind == InterviewExport.Kind.SINGLE else f"{obj.interview_count} interviews"
        url = reverse("admin:interviews_interview_change", args=[obj.interview_id])
        return format_html('<a href="{}">{}</a>', url, obj.interview_id)

    def has_module_permission(self, request) -> bool:
        return is_admin_reviewer(request.user)

    def has_view_permission(self, request, obj=None) -> bool:
        return is_admin_reviewer(request.user)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
