"""What the OpenAPI schema says about input is what the validators do (docs/api.md, "The schema").

Generated clients and ``tests/test_schemathesis.py`` take the schema at its word: a request it
admits must not be refused for its shape, and one it excludes must be refused. drf-spectacular
leaves out some of what DRF checks, so:

- the serializer extensions below add it from the fields themselves (DRF refuses NUL in every
  string; a trimmed non-blank string needs a character that is not whitespace; ``allow_empty=False``
  lists need one item; strict serializers refuse unknown fields);
- ``postprocess`` (``SPECTACULAR_SETTINGS["POSTPROCESSING_HOOKS"]``) fixes what is declared in the
  URLs, filters and views: path ids are UUIDs, query bounds from the views' query serializers,
  the date filters' bounds, empty filters are "not applied", no ``?format=`` on start/continue,
  a review's cross-field rule, and the OpenAPI links a stateful client follows from ``start``.

Loaded by ``InterviewsConfig.ready`` so the extensions are registered before any schema is built.
"""

from django.utils.module_loading import import_string
from drf_spectacular.extensions import OpenApiSerializerExtension, OpenApiSerializerFieldExtension

from interviews.filters import FIRST_DAY, LAST_DAY

# DRF's CharField refuses "\x00" (ProhibitNullCharactersValidator), so does django-filter's.
NO_NUL = "^[^\\x00]*$"
# Trimmed (DRF's default) and not blank: at least one character that is neither NUL nor whitespace.
NOT_BLANK = "^[^\\x00]*[^\\s\\x00][^\\x00]*$"


class CharFieldInput(OpenApiSerializerFieldExtension):
    target_class = "rest_framework.fields.CharField"
    match_subclasses = True

    def map_serializer_field(self, auto_schema, direction):
        schema = auto_schema._map_serializer_field(self.target, direction, bypass_extensions=True)
        field = self.target
        # A RegexValidator (SlugField…) brings its own pattern, added after this mapping.
        has_regex = any(hasattr(validator, "regex") for validator in field.validators)
        if direction == "request" and not has_regex and not {"pattern", "format", "enum"} & set(schema):
            schema["pattern"] = NOT_BLANK if field.trim_whitespace and not field.allow_blank else NO_NUL
        return schema


class ListFieldInput(OpenApiSerializerFieldExtension):
    target_class = "rest_framework.fields.ListField"
    match_subclasses = True

    def map_serializer_field(self, auto_schema, direction):
        schema = auto_schema._map_serializer_field(self.target, direction, bypass_extensions=True)
        if direction == "request" and not self.target.allow_empty:
            schema["minItems"] = max(1, schema.get("minItems", 0))
        return schema


class StrictSerializerInput(OpenApiSerializerExtension):
    """``StrictSerializer`` refuses fields it does not declare: ``additionalProperties: false``."""

    target_class = "interviewsvc.api.StrictSerializer"
    match_subclasses = True

    def map_serializer(self, auto_schema, direction):
        schema = auto_schema._map_serializer(self.target, direction, bypass_extensions=True)
        if direction == "request":
            schema["additionalProperties"] = False
        return schema


# Lowest and highest day the list filters take (interviews/filters.py): years 1900 to 2999.
assert (FIRST_DAY.year, LAST_DAY.year) == (1900, 2999), "update DATE_PATTERN with the bounds"
DATE_PATTERN = "^(19[0-9]{2}|2[0-9]{3})-[0-9]{2}-[0-9]{2}$"
# django-filter reads an empty value as "not given": ?status= is the unfiltered list. So does
# stats' ``series`` (``allow_blank``).
EMPTY_IS_ABSENT = {
    "status",
    "language",
    "technical_level",
    "employee_id",
    "start_date",
    "end_date",
    "search",
    "ordering",
    "series",
}
SEARCH_MAX_LENGTH = 200  # InterviewFilter.search

# Operations a stateful client can go on to with an interview id, and where each takes it.
LINKED_OPERATIONS = {
    "ContinueInterview": ("interviews_continue", "requestBody"),
    "GetInterview": ("interviews_retrieve", "parameters"),
    "ChangeStatus": ("interviews_update_status", "parameters"),
    "GetMessages": ("interviews_messages", "parameters"),
    "ExportInterview": ("interviews_export", "requestBody"),
    "DownloadInterview": ("interviews_export_one", "parameters"),
}


def interview_links(pointer: str, names) -> dict:
    """OpenAPI links to ``names`` (keys of LINKED_OPERATIONS), passing the id at ``pointer``."""
    links = {}
    for name in names:
        operation_id, where = LINKED_OPERATIONS[name]
        links[name] = {"operationId": operation_id, where: {"interview_id": f"$response.body#{pointer}"}}
    return links


# From start, where a stateful client goes with the interview it got (start is 201).
START_LINKS = interview_links("/data/interview_id", LINKED_OPERATIONS)
# From continue (and the reads), the same interview again: the conversation goes on.
INTERVIEW_LINKS = interview_links("/data/interview/id", ["ContinueInterview", "ChangeStatus", "ExportInterview"])
LINKS = {"interviews_start": ("201", START_LINKS), "interviews_continue": ("200", INTERVIEW_LINKS)}


TURN_OPERATIONS = {"interviews_start", "interviews_continue"}
# Query parameters validated by a serializer: their bounds come from its fields.
QUERY_SERIALIZERS = {
    "interviews_list": ("interviewsvc.api.PageQuerySerializer",),
    "interviews_messages": ("interviews.views.InterviewMessagesView", "QuerySerializer"),
}
# A review's cross-field rule (interviews/services/reviews.py): a score override comes with a
# reason (not blank), and a reason only with a score override.
REVIEW_OVERRIDE_RULE = [
    {"properties": {"score_override": {"nullable": True, "enum": [None]}, "override_reason": {"pattern": "^\\s*$"}}},
    {
        "required": ["score_override", "override_reason"],
        "properties": {"score_override": {"type": "integer"}, "override_reason": {"pattern": NOT_BLANK}},
    },
]


def postprocess(result, generator, request, public):
    review = result.get("components", {}).get("schemas", {}).get("ReviewInputRequest")
    if review and {"score_override", "override_reason"} <= set(review.get("properties", {})):
        review["anyOf"] = REVIEW_OVERRIDE_RULE
    for path_item in result.get("paths", {}).values():
        for operation in path_item.values():
            bounds = _query_bounds(operation.get("operationId"))
            if operation.get("operationId") in TURN_OPERATIONS:
                # drf-spectacular lists DRF's ?format= renderer override, which these views turn
                # off (interviews/sse.py): the Accept header alone picks JSON or events.
                operation["parameters"] = [p for p in operation.get("parameters", []) if p["name"] != "format"]
                if not operation["parameters"]:
                    del operation["parameters"]
            for parameter in operation.get("parameters", []):
                _parameter_fix(parameter)
                if parameter["in"] == "query" and parameter["name"] in bounds:
                    parameter["schema"].update(bounds[parameter["name"]])
            if operation.get("operationId") == "interviews_start" and "422" in operation["responses"]:
                operation["responses"]["422"]["description"] += (
                    "; also an unknown or inactive plan (errors[].type unknown_plan), nothing is written"
                )
            if operation.get("operationId") in LINKS:
                status, links = LINKS[operation["operationId"]]
                operation["responses"][status]["links"] = links
            body = operation.get("requestBody")
            if body and _has_required_fields(result, body):
                body["required"] = True
    return result


def _query_bounds(operation_id: str | None) -> dict[str, dict]:
    if operation_id not in QUERY_SERIALIZERS:
        return {}
    bounds = {}
    path, *attributes = QUERY_SERIALIZERS[operation_id]
    serializer_class = import_string(path)  # views import this module's app: resolved when used
    for attribute in attributes:
        serializer_class = getattr(serializer_class, attribute)
    for name, field in serializer_class().fields.items():
        limits = {"minimum": getattr(field, "min_value", None), "maximum": getattr(field, "max_value", None)}
        bounds[name] = {key: value for key, value in limits.items() if value is not None}
    return bounds


def _parameter_fix(parameter: dict) -> None:
    name, schema = parameter["name"], parameter["schema"]
    if parameter["in"] == "path" and name in ("interview_id", "job_id"):
        # Any segment reaches the view, which refuses a non-UUID with 422 (interviewsvc/routes.py).
        parameter["schema"] = {"type": "string", "format": "uuid"}
        return
    if parameter["in"] != "query":
        return
    if name in EMPTY_IS_ABSENT:
        parameter["allowEmptyValue"] = True
    if name in ("start_date", "end_date"):
        schema["pattern"] = DATE_PATTERN
    if name == "search":
        schema.update(maxLength=SEARCH_MAX_LENGTH, pattern=NO_NUL)


def _has_required_fields(result: dict, body: dict) -> bool:
    for media in body.get("content", {}).values():
        ref = media.get("schema", {}).get("$ref", "")
        component = result.get("components", {}).get("schemas", {}).get(ref.rsplit("/", 1)[-1], {})
        if component.get("required"):
            return True
    return False
