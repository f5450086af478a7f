"""Admin side of exports: the "export selected interviews" action (an export job, with a
progress page) and the read-only audit log.

Imported by ``interviews/admin.py`` (which registers ``InterviewAdmin`` and lists the action).
"""

from django import forms
from django.contrib import admin
from django.contrib.admin.helpers import ActionForm
from django.db.models import QuerySet
from django.http import Http404, HttpResponseRedirect
from django.template.defaultfilters import pluralize
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from interviews.exports.formats import FORMATS
from interviews.exports.jobs import TooManyExportJobs, export_job_create, export_job_limit
from interviews.exports.models import ExportJob
from interviews.models import ExportFormat, InterviewExport
from interviews.permissions import is_admin_reviewer
from interviewsvc.admin_site import AuditLogAdmin


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
    """Start an export job for the selected interviews (``queryset`` is already scoped to the
    reviewer) and show its progress page, which offers the ZIP when it is written."""
    name = request.POST.get("format") or ExportFormat.JSON
    if name not in FORMATS:
        modeladmin.message_user(request, f'Unknown export format "{name}".', level="error")
        return None
    limit = export_job_limit(name)
    ids = list(queryset.order_by("-started_at", "-id").values_list("id", flat=True)[: limit + 1])
    if len(ids) > limit:
        modeladmin.message_user(request, f"Select at most {limit} interviews per export.", level="error")
        return None
    try:
        job = export_job_create(
            user=request.user, kind=InterviewExport.Kind.ADMIN, export_format=name, interview_ids=ids, filters={}
        )
    except TooManyExportJobs as exc:
        modeladmin.message_user(request, exc.message, level="error")
        return None
    return HttpResponseRedirect(reverse("admin:interviews_exportjob_progress", args=[job.id]))


@admin.register(ExportJob)
class ExportJobAdmin(admin.ModelAdmin):
    """Only the progress page of one's own jobs (``<id>/progress/``); no list in the admin's
    index: a job and its file are their creator's alone, the audit log is for everyone else."""

    def get_urls(self):
        view = self.admin_site.admin_view(self.progress_view)
        return [path("<uuid:job_id>/progress/", view, name="interviews_exportjob_progress")]

    def has_module_permission(self, request) -> bool:
        return False

    def progress_view(self, request, job_id):
        job = ExportJob.objects.filter(pk=job_id, created_by=request.user).first()
        if job is None:
            raise Http404("Export job not found.")
        state = job.state_now()
        context = {
            **self.admin_site.each_context(request),
            "title": f"Export of {job.total} interview{pluralize(job.total)}",
            "job": job,
            "state": state,
            "format_label": ExportFormat(job.format).label,
            "status_url": reverse("export-job-detail", args=[job.id]),
            "download_url": reverse("export-job-download", args=[job.id]),
            "changelist_url": reverse("admin:interviews_interview_changelist"),
            "percent": int(100 * job.done / job.total) if job.total else 100,
        }
        return TemplateResponse(request, "admin/interviews/export_job.html", context)


@admin.register(InterviewExport)
class InterviewExportAdmin(AuditLogAdmin):
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
        "job_id",
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
