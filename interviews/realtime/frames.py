"""Every server→client frame of the stream, built in one place (docs/realtime.md).

Services publish these to the interview's group after commit, the consumer sends them, and the
REST SSE stream (``interviews.sse``) sends the same payloads as events.
"""

from django.urls import reverse

from interviews.models import Interview, InterviewMessage
from interviews.serializers import interview_data, message_data


def connected(*, interview: dict, role: str, last_sequence: int) -> dict:
    return {
        "type": "connected",
        "interview": interview,
        "role": role,
        "last_sequence": last_sequence,
        "pending_turn": interview.get("pending_turn"),
    }


def message(msg: InterviewMessage) -> dict:
    return {"type": "message", "message": message_data(msg)}


def answer_received(answer: InterviewMessage, *, turn_id: str | None) -> dict:
    return {
        "type": "answer_received",
        "message_id": str(answer.id),
        "sequence_number": answer.sequence_number,
        "client_message_id": answer.client_message_id,
        "turn_id": turn_id,
    }


def question(msg: InterviewMessage) -> dict:
    """The persisted question; ``turn_id`` only when it answers an answer (not the first one)."""
    frame = {
        "type": "question",
        "message_id": str(msg.id),
        "sequence_number": msg.sequence_number,
        "text": msg.content,
        "index": msg.metadata.get("index"),
        "total": msg.metadata.get("total"),
    }
    if msg.metadata.get("turn_id"):
        frame["turn_id"] = msg.metadata["turn_id"]
    return frame


def question_delta(*, turn_id: str, delta: str, seq: int) -> dict:
    return {"type": "question_delta", "turn_id": turn_id, "delta": delta, "seq": seq}


def question_reset(*, turn_id: str) -> dict:
    return {"type": "question_reset", "turn_id": turn_id}


def evaluation(*, answer_id, evaluation: dict) -> dict:
    return {"type": "evaluation", "answer_id": str(answer_id), **evaluation}


def report_url(interview_id) -> str:
    """The path of an interview's report (``GET``: 202 while it is made, then 200)."""
    return reverse("interview-report", kwargs={"interview_id": interview_id})


def interview_complete(interview: Interview, *, overall_score: int | None) -> dict:
    return {
        "type": "interview_complete",
        "interview_id": str(interview.id),
        "overall_score": overall_score,
        "total_questions": interview.question_count,
        "status": interview.status,
        "report_url": report_url(interview.id),
    }


def status_changed(interview: Interview) -> dict:
    return status_changed_data(interview_data(interview))


def status_changed_data(interview: dict) -> dict:
    return {"type": "status_changed", "status": interview["status"], "interview": interview}


def transcription(text: str) -> dict:
    return {"type": "transcription", "text": text, "is_final": True}


def pong() -> dict:
    return {"type": "pong"}


def error(code: str, message_text: str) -> dict:
    return {"type": "error", "code": code, "message": message_text}
