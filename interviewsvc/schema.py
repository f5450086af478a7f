"""OpenAPI descriptions of the envelopes, so generated clients see the real response shapes."""

from functools import cache

from drf_spectacular.utils import OpenApiResponse, inline_serializer
from rest_framework import serializers


class MetaSerializer(serializers.Serializer):
    request_id = serializers.CharField()
    timestamp = serializers.DateTimeField()


class PaginationSerializer(serializers.Serializer):
    total_items = serializers.IntegerField()
    total_pages = serializers.IntegerField()
    current_page = serializers.IntegerField()
    page_size = serializers.IntegerField()
    has_next = serializers.BooleanField()
    has_previous = serializers.BooleanField()


class ListMetaSerializer(MetaSerializer):
    pagination = PaginationSerializer()
    filters = serializers.DictField(child=serializers.JSONField())
    scope = serializers.ChoiceField(choices=["own", "organization", "all"])


class FieldErrorSerializer(serializers.Serializer):
    field = serializers.CharField(allow_null=True)
    error = serializers.CharField()
    type = serializers.CharField()


class ErrorEnvelopeSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["error"])
    code = serializers.IntegerField()
    error_code = serializers.CharField()
    message = serializers.CharField()
    data = serializers.JSONField(allow_null=True)
    errors = FieldErrorSerializer(many=True)
    meta = MetaSerializer()


ERROR_DESCRIPTIONS = {
    400: "malformed_request: the body is not valid JSON",
    401: "not_authenticated / token_invalid",
    403: "interview_access_denied / permission_denied",
    404: "interview_not_found / export_job_not_found / not_found (report_not_found: the interview never completed)",
    405: "method_not_allowed",
    409: "interview_already_exists / invalid_status_transition / interview_not_active / export_job_not_ready",
    410: "export_job_expired",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "throttled / too_many_export_jobs (Retry-After set)",
    503: "service_unavailable (Retry-After set)",
}


def errors_for(*statuses: int) -> dict[int, OpenApiResponse]:
    """Error responses for ``statuses``; 503 is added everywhere the database is touched."""
    codes = sorted({*statuses, 503})
    return {code: OpenApiResponse(ErrorEnvelopeSerializer, description=ERROR_DESCRIPTIONS[code]) for code in codes}


@cache
def envelope(data, *, many: bool = False, listing: bool = False, meta=None):
    """The success envelope around ``data`` (a serializer class, or None for ``data: null``).

    ``meta``: a ``MetaSerializer`` (``ListMetaSerializer`` for lists) subclass naming the keys
    an endpoint adds to ``meta`` (views pass them as ``success(..., meta={...})``).
    """
    if data is None:
        data_field = serializers.JSONField(allow_null=True)
        name = "Empty"
    else:
        data_field = data(many=many)
        name = data.__name__.removesuffix("Serializer").removesuffix("Output")
    # One name per shape: a bare array of X must not share its component with one X.
    suffix = "ListEnvelope" if listing else "ArrayEnvelope" if many else "Envelope"
    return inline_serializer(
        name=f"{name}{suffix}",
        fields={
            "status": serializers.ChoiceField(choices=["success"]),
            "code": serializers.IntegerField(),
            "message": serializers.CharField(),
            "data": data_field,
            "errors": serializers.JSONField(allow_null=True),
            "meta": (meta or (ListMetaSerializer if listing else MetaSerializer))(),
        },
    )
