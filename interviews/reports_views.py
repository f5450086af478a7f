"""``GET interviews/{id}/report`` (docs/api.md, "Interview reports"): validate → selector → serialize.

The output serializers describe the report document to the OpenAPI schema; its one definition
is ``interviews.reports.schema.REPORT_SCHEMA`` (a test checks that both name the same fields).
"""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers

from interviews.exceptions import ReportNotFound
from interviews.models import InterviewReport, InterviewStatus, ReportSource
from interviews.realtime.frames import report_url
from interviews.reports.schema import PROCESS_SECTIONS
from interviews.reports.selectors import interview_report_latest
from interviews.serializers import iso
from interviews.views import InterviewObjectView
from interviewsvc.api import parse_uuid, success
from interviewsvc.schema import envelope, errors_for

# What a client waits between two looks at a report being made.
RETRY_AFTER_SECONDS = 2
REPORT_PENDING = "report_pending"


class FindingSerializer(serializers.Serializer):
    text = serializers.CharField()
    messages = serializers.ListField(
        child=serializers.IntegerField(min_value=1), help_text="Sequence numbers of the messages it comes from"
    )


class TopicFindingSerializer(serializers.Serializer):
    key = serializers.CharField()
    title = serializers.CharField()
    score = serializers.IntegerField(allow_null=True, min_value=0, max_value=100)
    finding = serializers.CharField()
    messages = serializers.ListField(child=serializers.IntegerField(min_value=1))


ProcessSerializer = type(
    "ProcessSerializer",
    (serializers.Serializer,),
    {name: FindingSerializer(many=True) for name in PROCESS_SECTIONS},
)


class ReportOutputSerializer(serializers.Serializer):
    interview_id = serializers.UUIDField()
    version = serializers.IntegerField(help_text="1 for the first report; each regeneration adds one")
    generated_by = serializers.ChoiceField(choices=ReportSource.choices)
    created_at = serializers.DateTimeField()
    schema_version = serializers.IntegerField()
    language = serializers.CharField()
    overall_score = serializers.IntegerField(allow_null=True, min_value=0, max_value=100)
    summary = serializers.CharField()
    topics = TopicFindingSerializer(many=True)
    process = ProcessSerializer(allow_null=True, help_text="Process-elicitation plans only; else null")
    strengths = FindingSerializer(many=True)
    weaknesses = FindingSerializer(many=True)


class ReportPendingOutputSerializer(serializers.Serializer):
    interview_id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=[REPORT_PENDING])
    report_url = serializers.CharField()


def report_data(report: InterviewReport) -> dict:
    return {
        "interview_id": str(report.interview_id),
        "version": report.version,
        "generated_by": report.generated_by,
        "created_at": iso(report.created_at),
        **report.document,
    }


class InterviewReportView(InterviewObjectView):
    """Whoever may read the interview reads its report (employees their own: docs/api.md)."""

    @extend_schema(
        operation_id="interviews_report_retrieve",
        responses={
            200: envelope(ReportOutputSerializer),
            202: OpenApiResponse(
                envelope(ReportPendingOutputSerializer),
                description="report_pending: the report is being made; look again after Retry-After seconds",
            ),
            **errors_for(401, 403, 404, 422, 429),
        },
        tags=["interviews"],
    )
    def get(self, request, interview_id):
        interview = self.get_interview(parse_uuid(interview_id))
        if interview.status != InterviewStatus.COMPLETED:
            raise ReportNotFound()
        report = interview_report_latest(interview=interview)
        if report is None:
            pending = {"interview_id": str(interview.id), "status": REPORT_PENDING}
            pending["report_url"] = report_url(interview.id)
            return success(
                request,
                pending,
                "The report is being made; try again shortly",
                status=202,
                headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            )
        return success(request, report_data(report), "Report retrieved")
