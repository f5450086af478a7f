"""Writes for exports: the audit record. One row per export, written before the first byte."""

import uuid
from collections.abc import Sequence

from interviews.models import Interview, InterviewExport


def export_record(
    *,
    user,
    kind: str,
    export_format: str,
    interview: Interview | None = None,
    interview_ids: Sequence[uuid.UUID] = (),
    filters: dict | None = None,
    job_id: uuid.UUID | None = None,
) -> InterviewExport:
    """Record who exported what, when and in which format.

    ``organization_id`` is the organization whose data left: the interview's for a single
    export, the exporter's for a bulk or admin export (whose interviews are all in the
    exporter's scope). The record is written when the download starts, so an export the
    client abandons half-way is still on record. An export job (``job_id``) is recorded when
    it is created, with the filters that chose its interviews.
    """
    if interview is not None:
        ids = [str(interview.id)]
        organization_id = interview.organization_id
    else:
        ids = [str(pk) for pk in interview_ids]
        organization_id = user.organization_id
    return InterviewExport.objects.create(
        kind=kind,
        interview=interview,
        interview_ids=ids,
        interview_count=len(ids),
        format=export_format,
        filters=filters or {},
        exported_by=user,
        organization_id=organization_id,
        job_id=job_id,
    )
