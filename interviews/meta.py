"""The original service's ``meta`` keys, next to ours (docs/api.md, "Coming from the original service").

The SPA written for the service this one replaces reads these keys; ours (``request_id``,
``timestamp``, and on lists ``pagination``, ``filters``, ``scope``) stay. Views pass the dicts
built here to ``success(..., meta=...)`` / ``success_body(..., meta=...)``; the serializers
describe the same keys to the OpenAPI schema (``envelope(..., meta=...)``).
"""

from rest_framework import serializers

from interviews.exports.data import ExportHeader
from interviews.models import Interview, Language, TechnicalLevel
from interviews.serializers import iso
from interviewsvc.schema import ListMetaSerializer, MetaSerializer

# Where an export's data was read from: here always the stored interview (whether the interview
# was imported is the document's ``source``).
EXPORT_DATA_SOURCE = "database"


def turn_meta(interview: Interview) -> dict:
    """``start`` / ``continue`` (the plain JSON answer and the event stream's ``result``)."""
    return {
        "interview_id": str(interview.id),
        # The original service gave every interview a session id; an interview started here has
        # none (only imports keep the browser's), so it is known by its own id.
        "session_id": interview.session_id or str(interview.id),
        "question_count": interview.question_count,
        "language": interview.language,
    }


def interview_meta(interview: Interview) -> dict:
    """``GET interviews/{id}``."""
    return {"interview_id": str(interview.id), "employee_id": str(interview.employee_id)}


def update_meta(updated_fields: list[str]) -> dict:
    """``PATCH interviews/{id}``: the request's fields that were applied."""
    return {"updated_fields": list(updated_fields)}


def list_meta(user) -> dict:
    """``GET interviews``: whose list this is (the caller), next to ``scope``."""
    return {"employee_id": str(user.employee_id)}


def export_meta(header: ExportHeader) -> dict:
    """``POST interviews/export`` as JSON."""
    return {
        "interview_id": str(header.interview_id),
        "export_date": iso(header.exported_at),
        "language": header.language,
        "technical_level": header.technical_level,
        "data_source": EXPORT_DATA_SOURCE,
    }


# --- OpenAPI ---------------------------------------------------------------------------------


class TurnMetaSerializer(MetaSerializer):
    interview_id = serializers.UUIDField()
    session_id = serializers.CharField(help_text="The imported browser session's id, else the interview id")
    question_count = serializers.IntegerField()
    language = serializers.ChoiceField(choices=Language.choices)


class InterviewMetaSerializer(MetaSerializer):
    interview_id = serializers.UUIDField()
    employee_id = serializers.UUIDField(help_text="The interviewee's employee id")


class UpdateMetaSerializer(MetaSerializer):
    updated_fields = serializers.ListField(
        child=serializers.CharField(), help_text="The request's fields that were applied"
    )


class InterviewListMetaSerializer(ListMetaSerializer):
    employee_id = serializers.UUIDField(help_text="The caller's employee id")


class ExportMetaSerializer(MetaSerializer):
    interview_id = serializers.UUIDField()
    export_date = serializers.DateTimeField(help_text="The same instant as data.exported_at")
    language = serializers.ChoiceField(choices=Language.choices)
    technical_level = serializers.ChoiceField(choices=TechnicalLevel.choices)
    data_source = serializers.ChoiceField(choices=[EXPORT_DATA_SOURCE])
