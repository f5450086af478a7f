"""Reads of interview reports."""

from interviews.models import Interview, InterviewReport


def interview_report_latest(*, interview: Interview) -> InterviewReport | None:
    """The current report (the highest version), or None while none is stored."""
    return InterviewReport.objects.filter(interview=interview).order_by("-version").first()
