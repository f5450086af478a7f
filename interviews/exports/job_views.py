"""Export job endpoints: start a job (the bulk export's query, by POST), read its state, download
its ZIP. docs/exports.md, "Export jobs".

A job is its creator's alone: anyone else (an admin of the organization included) gets the same
404 as for a job that does not exist, so job ids reveal nothing. The download is an API call
with the same check, never a public or signed URL.
"""

from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.views import APIView

from interviews.exports.archive import archive_filename
from interviews.exports.formats import EXPORT_FORMATS
from interviews.exports.jobs import export_job_create, export_job_file_delete, export_job_limit, export_storage
from interviews.exports.models import ExportJob, ExportJobState
from interviews.exports.streaming import file_response
from interviews.exports.views import (
    FORMAT_PARAMETER,
    FileContentNegotiation,
    export_format_of,
    export_interviews_select,
)
from interviews.filters import LIST_PARAMETERS
from interviews.models import InterviewExport
from interviewsvc.api import parse_uuid, success
from interviewsvc.errors import ServiceError
from interviewsvc.schema import envelope, errors_for

DOWNLOAD_CHUNK_BYTES = 64 * 1024


class ExportJobNotFound(ServiceError):
    status_code = 404
    error_code = "export_job_not_found"
    default_message = "Export job not found."


class ExportJobNotReady(ServiceError):
    status_code = 409
    error_code = "export_job_not_ready"
    default_message = "The export is not finished yet."


class ExportJobExpired(ServiceError):
    status_code = 410
    error_code = "export_job_expired"
    default_message = "The export's file is no longer available; start a new export."


class ProgressSerializer(serializers.Serializer):
    done = serializers.IntegerField(help_text="Interviews written to the ZIP so far")
    total = serializers.IntegerField(help_text="Interviews the job holds")


class ExportJobSerializer(serializers.Serializer):
    job_id = serializers.UUIDField()
    state = serializers.ChoiceField(choices=ExportJobState.values)
    format = serializers.ChoiceField(choices=EXPORT_FORMATS)
    filters = serializers.DictField(
        child=serializers.CharField(), help_text="The list filters that chose the interviews"
    )
    progress = ProgressSerializer()
    status_url = serializers.CharField()
    download_url = serializers.CharField(allow_null=True, help_text="Set while state is done")
    file_size = serializers.IntegerField(allow_null=True, help_text="Bytes of the ZIP, once done")
    error = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    expires_at = serializers.DateTimeField(allow_null=True, help_text="When the file is deleted")


def export_job_body(request, job: ExportJob) -> dict:
    state = job.state_now()
    status_url = request.build_absolute_uri(reverse("export-job-detail", args=[job.id]))
    ready = state == ExportJobState.DONE
    return {
        "job_id": str(job.id),
        "state": state,
        "format": job.format,
        "filters": {k: v for k, v in job.filters.items() if k != "format"},
        "progress": {"done": job.done, "total": job.total},
        "status_url": status_url,
        "download_url": request.build_absolute_uri(reverse("export-job-download", args=[job.id])) if ready else None,
        "file_size": job.file_size if ready else None,
        "error": job.error or None,
        "created_at": job.created_at,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
        "expires_at": job.expires_at,
    }


def export_job_of(request, job_id: str) -> ExportJob:
    """The caller's own job, else 404 (another user's job is indistinguishable from none)."""
    pk = parse_uuid(job_id, field="job_id")
    job = ExportJob.objects.filter(pk=pk, created_by=request.user).first()
    if job is None:
        raise ExportJobNotFound()
    if job.state == ExportJobState.DONE and job.state_now() == ExportJobState.EXPIRED:
        # Past its time and not swept yet: delete it now rather than serve it.
        export_job_file_delete(job)
        ExportJob.objects.filter(pk=job.pk, state=ExportJobState.DONE).update(
            state=ExportJobState.EXPIRED, file_name=""
        )
        job.state, job.file_name = ExportJobState.EXPIRED, ""
    return job


JOB_ENVELOPE = envelope(ExportJobSerializer)


class ExportJobCreateView(APIView):
    """POST ``interviews/export-jobs?<list filters>&format=…``: 202 and the queued job."""

    content_negotiation_class = FileContentNegotiation

    @extend_schema(
        request=None,
        parameters=[*LIST_PARAMETERS, FORMAT_PARAMETER],
        operation_id="interviews_export_jobs_create",
        responses={
            202: OpenApiResponse(
                JOB_ENVELOPE, description="Queued (already done when tasks run in-process); Location: the job"
            ),
            **errors_for(401, 403, 422, 429),
        },
        tags=["exports"],
    )
    def post(self, request):
        export_format = export_format_of(request.query_params)
        filterset, ids = export_interviews_select(request, limit=export_job_limit(export_format.name), per="export job")
        job = export_job_create(
            user=request.user,
            kind=InterviewExport.Kind.JOB,
            export_format=export_format.name,
            interview_ids=ids,
            filters={**filterset.applied(), "format": export_format.name},
        )
        job.refresh_from_db()  # in-process, the task has run by now
        body = export_job_body(request, job)
        return success(request, body, "Export job queued", status=202, headers={"Location": body["status_url"]})


class ExportJobDetailView(APIView):
    """GET ``export-jobs/{id}``: the job's state, progress and, when done, its download URL."""

    @extend_schema(
        operation_id="export_jobs_retrieve",
        responses={200: JOB_ENVELOPE, **errors_for(401, 404, 422, 429)},
        tags=["exports"],
    )
    def get(self, request, job_id):
        job = export_job_of(request, job_id)
        # Polled while the job runs: never cached anywhere.
        headers = {"Cache-Control": "private, no-store"}
        return success(request, export_job_body(request, job), "Export job", headers=headers)


class ExportJobDownloadView(APIView):
    """GET ``export-jobs/{id}/download``: the ZIP, streamed from storage to its creator."""

    content_negotiation_class = FileContentNegotiation

    @extend_schema(
        operation_id="export_jobs_download",
        responses={
            (200, "application/zip"): OpenApiResponse(OpenApiTypes.BINARY, description="One file per interview"),
            **errors_for(401, 404, 409, 410, 422, 429),
        },
        tags=["exports"],
    )
    def get(self, request, job_id):
        job = export_job_of(request, job_id)
        state = job.state_now()
        if state == ExportJobState.EXPIRED:
            raise ExportJobExpired()
        if state != ExportJobState.DONE:
            raise ExportJobNotReady(f"The export is {state}, not done.")
        try:
            handle = export_storage().open(job.file_name, "rb")
        except FileNotFoundError as exc:
            raise ExportJobExpired() from exc
        return file_response(
            request, _read_chunks(handle), filename=archive_filename(job.created_at), content_type="application/zip"
        )


def _read_chunks(handle):
    try:
        while chunk := handle.read(DOWNLOAD_CHUNK_BYTES):
            yield chunk
    finally:
        handle.close()
