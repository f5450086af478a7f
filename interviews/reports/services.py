"""Asking for and making interview reports (docs/api.md, "Interview reports").

:func:`interview_report_request` is called wherever an interview completes (the interviewer's
last turn, a PATCH, the admin, an import of a completed transcript), inside the transaction
that completes it: the task is enqueued after commit, so a rolled-back completion asks for
nothing. Completion is final (no transition leaves ``completed``), so the request key
``completed`` names the one report of a completion; an admin's "Regenerate" asks with a fresh key.

:func:`interview_report_generate` (the ``report_generate`` task) reads, lets go, builds (maybe
asking a model for seconds), then writes in a short transaction under the interview's row lock,
which numbers the versions. It is idempotent: a version already stored for the request key is
returned as it is, so a redelivered or retried task adds no second version.
"""

import asyncio
import logging
import uuid
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.db import IntegrityError, transaction

from interviews.engine.plans import plan_spec
from interviews.exceptions import InvalidStatusTransition
from interviews.models import (
    Interview,
    InterviewMessage,
    InterviewReport,
    InterviewSource,
    InterviewStatus,
    ReportSource,
)
from interviews.permissions import Action, InterviewAccessPermission, is_admin
from interviews.reports.schema import report_problems
from interviews.reports.scripted import ReportInput, ReportMessage, report_build_scripted
from interviews.selectors import interview_get
from interviewsvc.errors import PermissionDenied
from interviewsvc.ids import uuid7
from interviewsvc.tasks import enqueue

logger = logging.getLogger("interviews.reports")

COMPLETED_KEY = "completed"


def interview_report_request(*, interview: Interview, request_key: str = COMPLETED_KEY) -> None:
    """Generate a report of ``interview`` in the background once the current transaction commits."""
    from interviews.tasks import report_generate

    enqueue(report_generate, str(interview.id), request_key)


def interview_report_regenerate(*, interview_id: uuid.UUID, actor) -> str:
    """Ask for a new version of a completed interview's report (admins and superusers)."""
    interview = interview_get(interview_id=interview_id)
    InterviewAccessPermission.check(actor, interview, Action.VIEW)
    if not is_admin(actor):
        raise PermissionDenied("Only admins may regenerate a report.")
    if interview.status != InterviewStatus.COMPLETED:
        raise InvalidStatusTransition("Only a completed interview has a report to regenerate.")
    key = f"regenerate:{uuid7().hex}"
    interview_report_request(interview=interview, request_key=key)
    return key


def report_input(interview: Interview) -> ReportInput:
    """What the builders need, as plain data (one query for the messages)."""
    rows = (
        InterviewMessage.objects.filter(interview=interview)
        .order_by("sequence_number")
        .values_list("role", "content", "sequence_number", "evaluation", "metadata")
    )
    messages = tuple(
        ReportMessage(role=role, content=content, sequence_number=n, evaluation=evaluation, metadata=metadata or {})
        for role, content, n, evaluation, metadata in rows
    )
    return ReportInput(
        interview_id=interview.id,
        language=interview.language,
        plan=plan_spec(interview.plan),
        overall_score=interview.overall_score,
        messages=messages,
    )


def _uses_model() -> bool:
    from interviews.engine.chain import provider_names

    configured = settings.INTERVIEWER_PROVIDERS
    names = provider_names(configured.split(",") if isinstance(configured, str) else list(configured))
    return "openai" in names


def _run(coroutine_function, *args, **kwargs):
    """Run a coroutine to its end from sync code (on a thread of its own if a loop runs here)."""

    async def main():
        from interviews.engine.openai_chat import close_client

        try:
            return await coroutine_function(*args, **kwargs)
        finally:
            await close_client()  # the client belongs to this short-lived loop

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(main())
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, main()).result()


def report_document(data: ReportInput, *, imported: bool = False) -> tuple[dict, str]:
    """``(document, generated_by)``: the model's report when one is configured and usable, else
    the scripted one."""
    if _uses_model():
        from interviews.reports.llm import ReportUnavailable, report_ask_model

        try:
            return _run(report_ask_model, data, imported=imported), ReportSource.OPENAI
        except ReportUnavailable as exc:
            logger.warning("model report of interview %s unusable (%s); using the scripted one", data.interview_id, exc)
    document = report_build_scripted(data)
    problems = report_problems(document, sequence_numbers=data.sequence_numbers, topic_keys=data.topic_keys)
    if problems:  # a bug in the builder: fail the task loudly rather than store a broken report
        raise ValueError(f"scripted report of interview {data.interview_id} is invalid: {problems}")
    return document, ReportSource.SCRIPTED


def interview_report_generate(*, interview_id: uuid.UUID, request_key: str = COMPLETED_KEY) -> InterviewReport | None:
    """Make and store the report version asked for by ``request_key`` (once per key).

    None when the interview is gone or not completed (nothing to report; not an error).
    """
    interview = Interview.objects.select_related("plan").filter(pk=interview_id).first()
    if interview is None or interview.status != InterviewStatus.COMPLETED:
        return None
    done = InterviewReport.objects.filter(interview_id=interview_id, request_key=request_key).first()
    if done is not None:
        return done
    document, source = report_document(report_input(interview), imported=interview.source == InterviewSource.MIGRATED)
    try:
        with transaction.atomic():
            # The row lock numbers versions one at a time; the interview may have been deleted.
            if not Interview.objects.select_for_update().filter(pk=interview_id).exists():
                return None
            done = InterviewReport.objects.filter(interview_id=interview_id, request_key=request_key).first()
            if done is not None:
                return done
            last = (
                InterviewReport.objects.filter(interview_id=interview_id)
                .order_by("-version")
                .values_list("version", flat=True)
                .first()
            )
            return InterviewReport.objects.create(
                interview_id=interview_id,
                version=(last or 0) + 1,
                request_key=request_key,
                document=document,
                generated_by=source,
            )
    except IntegrityError:
        # The unique (interview, request_key) backstop: another worker stored it first.
        return InterviewReport.objects.get(interview_id=interview_id, request_key=request_key)
