from interviewsvc.errors import ServiceError


class InterviewNotFound(ServiceError):
    status_code = 404
    error_code = "interview_not_found"
    default_message = "Interview not found"


class InterviewAccessDenied(ServiceError):
    status_code = 403
    error_code = "interview_access_denied"
    default_message = "You may not access this interview"


class InterviewAlreadyExists(ServiceError):
    status_code = 409
    error_code = "interview_already_exists"
    default_message = "This session was already imported"


class InvalidStatusTransition(ServiceError):
    status_code = 409
    error_code = "invalid_status_transition"
    default_message = "That status change is not allowed"


class InterviewNotActive(ServiceError):
    status_code = 409
    error_code = "interview_not_active"
    default_message = "The interview is not in progress"


class VoiceUnavailable(ServiceError):
    status_code = 503
    error_code = "voice_unavailable"
    default_message = "No speech provider is configured"


class TurnInProgress(ServiceError):
    status_code = 409
    error_code = "turn_in_progress"
    default_message = "The interviewer is still answering the previous answer; wait for its question"


class UnknownPlan(ServiceError):
    """A start request named a plan that does not exist or is inactive (422 on ``plan``)."""

    status_code = 422
    error_code = "validation_error"
    default_message = "Unknown or inactive plan"


class ReportNotFound(ServiceError):
    """The interview never completed, so it has no report (docs/api.md, "Interview reports")."""

    status_code = 404
    error_code = "report_not_found"
    default_message = "This interview has no report: only completed interviews have one"
