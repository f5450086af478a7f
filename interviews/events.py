"""Publishing realtime events: only services call this, and only after commit.

Each interview has one channel-layer group, ``interview.<id>``; every process's consumers for
that interview join it, so an event reaches participants and observers on any process.
Frames are already in the shape of docs/realtime.md's server→client frames.
"""

import logging
import uuid

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

logger = logging.getLogger("interviews.events")


def group_name(interview_id: uuid.UUID | str) -> str:
    return f"interview.{interview_id}"


async def publish(interview_id, frames: list[dict], *, preview: bool = False) -> None:
    """Send ``frames`` to the interview's group now; a failure is logged, never raised.

    ``preview``: the frames are a question being written (``question_delta``), which the
    committed question follows anyway, so losing them is a warning, not an error.
    """
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        await layer.group_send(group_name(interview_id), {"type": "interview.frames", "frames": frames})
    except Exception:  # the rows are committed; a lost broadcast must not fail the request
        if preview:
            logger.warning("could not publish a question delta for interview %s", interview_id, exc_info=True)
        else:
            logger.exception("could not publish events for interview %s", interview_id)


def _send(interview_id, frames: list[dict]) -> None:
    async_to_sync(publish)(interview_id, frames)


def publish_on_commit(interview_id, frames: list[dict]) -> None:
    """Send ``frames`` to the interview's group once the current transaction commits.

    Nobody hears about a message that was rolled back (Zulip's ``send_event_on_commit``).
    """
    if frames:
        transaction.on_commit(lambda: _send(interview_id, frames))


async def close(interview_ids: list) -> None:
    """Tell every open socket of these interviews that the interview is gone (soft-deleted or
    purged): the consumers close with 4404 (docs/realtime.md). A failure is logged, never raised."""
    layer = get_channel_layer()
    if layer is None:
        return
    for interview_id in interview_ids:
        try:
            await layer.group_send(group_name(interview_id), {"type": "interview.gone"})
        except Exception:  # the rows are gone already; a socket left open finds that out on its next frame
            logger.exception("could not close the sockets of interview %s", interview_id)


def close_on_commit(interview_ids) -> None:
    """:func:`close` once the current transaction commits (nothing if it rolls back)."""
    ids = list(interview_ids)
    if ids:
        transaction.on_commit(lambda: async_to_sync(close)(ids))
