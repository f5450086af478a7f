"""Export endpoints: validate (no query) → check access → record → stream the file.

``format`` is this API's own query parameter, so these views do not let DRF read it as its
renderer override (``?format=pdf`` would be a 404) nor pick a renderer from ``Accept``:
files are chosen by ``format``, errors are always the JSON envelope.

``POST interviews/export`` as JSON answers the original service's way: ``InterviewExportData``
inside the success envelope (docs/exports.md, "POST: the envelope or the file").
"""

import uuid

from django.conf import settings
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, PolymorphicProxySerializer, extend_schema
from rest_framework import serializers
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.views import APIView

from interviews.exports.archive import archive_entries, archive_filename, zip_chunks
from interviews.exports.data import (
    ExportHeader,
    export_document,
    export_header,
    export_interview_get,
    export_turns,
)
from interviews.exports.formats import EXPORT_FORMATS, FORMATS, Format, export_filename
from interviews.exports.services import export_record
from interviews.exports.streaming import file_response
from interviews.filters import LIST_PARAMETERS, interview_list_filtered
from interviews.meta import ExportMetaSerializer, export_meta
from interviews.models import InterviewExport, InterviewSource
from interviews.permissions import Action, InterviewAccessPermission, require_staff
from interviewsvc.api import StrictSerializer, parse_uuid, success, validated
from interviewsvc.errors import ValidationFailed
from interviewsvc.logging import bind_interview
from interviewsvc.schema import envelope, errors_for


class FileContentNegotiation(DefaultContentNegotiation):
    def select_renderer(self, request, renderers, format_suffix=None):
        renderer = renderers[0]
        return renderer, renderer.media_type


class FormatQuerySerializer(serializers.Serializer):
    format = serializers.ChoiceField(choices=EXPORT_FORMATS, default="json")


def export_format_of(query_params) -> Format:
    data = validated(FormatQuerySerializer, {k: v for k, v in query_params.items() if k == "format"})
    return FORMATS[data["format"]]


def single_export_begin(request, *, interview_id: uuid.UUID, export_format: Format, check) -> ExportHeader:
    """Load, authorize (``check(interview)`` raises) and record one interview's export."""
    bind_interview(interview_id)
    interview = export_interview_get(interview_id=interview_id)
    check(interview)
    export_record(
        user=request.user, kind=InterviewExport.Kind.SINGLE, export_format=export_format.name, interview=interview
    )
    return export_header(interview=interview, exported_by=request.user)


def single_export(request, *, interview_id: uuid.UUID, export_format: Format, check):
    """One interview's file, streamed."""
    header = single_export_begin(request, interview_id=interview_id, export_format=export_format, check=check)
    chunks = export_format.render(header, export_turns(interview_id=header.interview_id, imported=header.imported))
    return file_response(
        request,
        chunks,
        filename=export_filename(header.interview_id, export_format),
        content_type=export_format.content_type,
    )


def single_export_enveloped(request, *, interview_id: uuid.UUID, check):
    """One interview's ``InterviewExportData`` in the success envelope, with the original ``meta``."""
    header = single_export_begin(request, interview_id=interview_id, export_format=FORMATS["json"], check=check)
    document = export_document(header, export_turns(interview_id=header.interview_id, imported=header.imported))
    # Transcripts are personal data, in an envelope as in a file: no shared caches.
    headers = {"Cache-Control": "private, no-store"}
    return success(request, document, "Interview exported", meta=export_meta(header), headers=headers)


def wants_envelope(request, *, export_format: Format, download: bool) -> bool:
    """``POST interviews/export``: the envelope for JSON, unless the caller asked for the file
    (``?download=1``) or accepts no JSON (``Accept: application/pdf``; no Accept, or ``*/*``,
    accepts JSON)."""
    if export_format.name != "json" or download:
        return False
    return not request.headers.get("Accept", "").strip() or request.accepts("application/json")


# --- OpenAPI ---------------------------------------------------------------------------------


class ExportTurnSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=["assistant", "user", "system"])
    content = serializers.CharField()
    timestamp = serializers.DateTimeField()
    sequence_number = serializers.IntegerField()
    imported = serializers.BooleanField(help_text="Written in another system and imported by migrate")


class InterviewExportDataSerializer(serializers.Serializer):
    interview_id = serializers.UUIDField()
    user_id = serializers.UUIDField()
    user_name = serializers.CharField()
    user_role = serializers.CharField()
    organization = serializers.CharField(allow_null=True)
    interview_date = serializers.DateTimeField()
    interview_duration_minutes = serializers.FloatField(allow_null=True)
    total_questions = serializers.IntegerField()
    total_user_responses = serializers.IntegerField()
    is_complete = serializers.BooleanField()
    language = serializers.CharField()
    technical_level = serializers.CharField()
    source = serializers.ChoiceField(choices=InterviewSource.choices, help_text="migrated: every turn is imported")
    conversation_history = ExportTurnSerializer(many=True)
    exported_at = serializers.DateTimeField()
    exported_by = serializers.CharField()


FILE_RESPONSES = {
    (200, "application/json"): OpenApiResponse(InterviewExportDataSerializer, description="format=json"),
    **{
        (200, fmt.content_type.split(";")[0]): OpenApiResponse(OpenApiTypes.BINARY, description=f"format={name}")
        for name, fmt in FORMATS.items()
        if name != "json"
    },
}
FORMAT_PARAMETER = OpenApiParameter("format", enum=EXPORT_FORMATS, description="File format; default json")
# POST: format=json answers with the envelope, or with the file (the same media type) on request.
POST_RESPONSES = {
    **FILE_RESPONSES,
    (200, "application/json"): OpenApiResponse(
        PolymorphicProxySerializer(
            component_name="InterviewExportJson",
            serializers=[
                envelope(InterviewExportDataSerializer, meta=ExportMetaSerializer),
                InterviewExportDataSerializer,
            ],
            resource_type_field_name=None,
        ),
        description=(
            "format=json: the success envelope with data = InterviewExportData and meta {interview_id, export_date, "
            "language, technical_level, data_source}; with ?download=1, or an Accept header that accepts no JSON, the "
            "bare InterviewExportData as a file download (Content-Disposition: attachment)"
        ),
    ),
}
DOWNLOAD_PARAMETER = OpenApiParameter(
    "download",
    type=bool,
    description="format=json: true answers with the file download instead of the envelope; other formats are files",
)


# --- views -----------------------------------------------------------------------------------


class InterviewExportView(APIView):
    """GET: bulk ZIP by the list's filters (staff/admin). POST: one interview, like the GET below."""

    content_negotiation_class = FileContentNegotiation

    class ExportInputSerializer(StrictSerializer):
        interview_id = serializers.UUIDField()
        format = serializers.ChoiceField(choices=EXPORT_FORMATS, default="json")

    class ExportQuerySerializer(serializers.Serializer):
        download = serializers.BooleanField(default=False)

    @extend_schema(
        request=ExportInputSerializer,
        parameters=[DOWNLOAD_PARAMETER],
        operation_id="interviews_export",
        responses={**POST_RESPONSES, **errors_for(400, 401, 403, 404, 413, 422, 429)},
        tags=["exports"],
    )
    def post(self, request):
        data = validated(self.ExportInputSerializer, request.data)
        query = validated(
            self.ExportQuerySerializer, {k: v for k, v in request.query_params.items() if k == "download"}
        )
        export_format = FORMATS[data["format"]]

        def check(interview):
            InterviewAccessPermission.check(request.user, interview, Action.EXPORT)

        if wants_envelope(request, export_format=export_format, download=query["download"]):
            return single_export_enveloped(request, interview_id=data["interview_id"], check=check)
        return single_export(request, interview_id=data["interview_id"], export_format=export_format, check=check)

    @extend_schema(
        parameters=[*LIST_PARAMETERS, FORMAT_PARAMETER],
        operation_id="interviews_export_bulk",
        responses={
            (200, "application/zip"): OpenApiResponse(OpenApiTypes.BINARY, description="One file per interview"),
            **errors_for(401, 403, 422, 429),
        },
        tags=["exports"],
    )
    def get(self, request):
        export_format = export_format_of(request.query_params)
        filterset, ids = export_interviews_select(request, limit=settings.EXPORT_BULK_MAX_INTERVIEWS, per="export")
        now = timezone.now()
        export_record(
            user=request.user,
            kind=InterviewExport.Kind.BULK,
            export_format=export_format.name,
            interview_ids=ids,
            filters={**filterset.applied(), "format": export_format.name},
        )
        entries = archive_entries(interview_ids=ids, export_format=export_format, exported_by=request.user, now=now)
        return file_response(
            request, zip_chunks(entries), filename=archive_filename(now), content_type="application/zip"
        )


def export_interviews_select(request, *, limit: int, per: str) -> tuple:
    """``(filterset, ids)`` of a bulk export or export job: the caller (staff and up) asks with the
    list's filters; newest first unless ordered; more than ``limit`` matches is a 422."""
    require_staff(request.user)
    filterset = interview_list_filtered(request)
    queryset = filterset.qs
    if "ordering" not in filterset.applied():
        queryset = queryset.order_by("-started_at", "-id")
    ids = list(queryset.values_list("id", flat=True)[: limit + 1])
    if len(ids) > limit:
        raise ValidationFailed(
            f"More than {limit} interviews match; narrow the filters.",
            errors=[{"field": None, "error": f"At most {limit} interviews per {per}.", "type": "too_many"}],
        )
    return filterset, ids


class InterviewExportDetailView(APIView):
    """GET ``interviews/{id}/export?format=…``: one interview's transcript as a file."""

    permission_classes = [InterviewAccessPermission]
    interview_action = Action.EXPORT
    content_negotiation_class = FileContentNegotiation

    @extend_schema(
        parameters=[FORMAT_PARAMETER],
        operation_id="interviews_export_one",
        responses={**FILE_RESPONSES, **errors_for(401, 403, 404, 422, 429)},
        tags=["exports"],
    )
    def get(self, request, interview_id):
        pk = parse_uuid(interview_id)
        export_format = export_format_of(request.query_params)
        return single_export(
            request,
            interview_id=pk,
            export_format=export_format,
            check=lambda interview: self.check_object_permissions(request, interview),
        )
