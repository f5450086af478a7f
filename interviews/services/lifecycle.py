"""The data lifecycle of interviews: soft delete, restore, purge and erasure (docs/operations.md,
"Data lifecycle").

- **Soft delete** (``interview_soft_delete``) sets ``deleted_at``/``deleted_by``: the default
  manager hides the interview from every read from then on (interviews/managers.py), and open
  sockets on it are closed with 4404, as for an interview that does not exist.
- **Restore** (``interview_restore``) clears them, until the purge has run.
- **Purge** (``interviews_purge``, beat's ``interviews.tasks.lifecycle_purge``) removes for good
  the interviews soft-deleted more than ``SOFT_DELETE_DAYS`` ago and, when ``RETENTION_DAYS`` is
  set, those that ended (or, never ended, started) longer ago than that.
- **Erasure** (``employee_erase``) removes every interview of one employee, deleted or not, at once.

Every removal for good goes through :func:`_remove`: it sends ``interviews_purged`` (receivers
delete files in storage), deletes the rows (messages, reviews and reports cascade), writes one
content-free :class:`DataDeletion` audit row and closes open sockets, all in one transaction
(the sockets after commit). Batches lock their rows with ``SKIP LOCKED`` on PostgreSQL, so two
purges at once split the work instead of deleting (and signalling) the same rows twice; on
SQLite the database's single writer serialises them.
"""

import uuid
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from interviews import events
from interviews.exceptions import InterviewNotFound
from interviews.models import DataDeletion, Interview, InterviewMessage
from interviews.permissions import Action, InterviewAccessPermission
from interviews.services.messages import interview_lock
from interviews.signals import interviews_purged

Reason = DataDeletion.Reason


def interview_soft_delete(*, interview_id: uuid.UUID, actor=None) -> Interview:
    """Soft-delete a live interview, checking under the row lock that ``actor`` may (None: a
    system call). A deleted or unknown interview is ``InterviewNotFound``; so is a second
    delete, which then changes nothing."""
    with transaction.atomic():
        interview = interview_lock(interview_id=interview_id)
        if actor is not None:
            InterviewAccessPermission.check(actor, interview, Action.DELETE)
        interview.deleted_at = timezone.now()
        interview.deleted_by = actor
        interview.save(update_fields=["deleted_at", "deleted_by", "updated_at"])
        events.close_on_commit([interview.id])
    return interview


def interview_restore(*, interview_id: uuid.UUID) -> Interview:
    """Undo a soft delete (admins only: the admin of deleted interviews calls this)."""
    with transaction.atomic():
        try:
            interview = Interview.all_objects.select_for_update().get(pk=interview_id, deleted_at__isnull=False)
        except Interview.DoesNotExist as exc:
            raise InterviewNotFound("The interview is not deleted, or was already purged.") from exc
        interview.deleted_at = None
        interview.deleted_by = None
        interview.save(update_fields=["deleted_at", "deleted_by", "updated_at"])
    return interview


def soft_delete_expiry(interview: Interview):
    """When the purge may remove a soft-deleted interview (None: not deleted)."""
    if interview.deleted_at is None:
        return None
    return interview.deleted_at + timedelta(days=settings.SOFT_DELETE_DAYS)


def purge_due(*, reason: str, now=None) -> Q | None:
    """The rows the purge removes for ``reason``, or None when that rule is off.

    Retention counts from when the interview ended (``completed_at``, set for completed and
    cancelled ones) or, for one that never ended, from when it started: an interview left
    unfinished for the whole retention period is abandoned.
    """
    now = now or timezone.now()
    if reason == Reason.SOFT_DELETE_EXPIRED:
        return Q(deleted_at__lt=now - timedelta(days=settings.SOFT_DELETE_DAYS))
    if reason == Reason.RETENTION and settings.RETENTION_DAYS > 0:
        return Q(retained_from__lt=now - timedelta(days=settings.RETENTION_DAYS))
    return None


def interviews_purge(*, reason: str, batch_size: int | None = None, max_batches: int = 100) -> int:
    """Remove for good the interviews due for ``reason``, in batches; how many were removed.

    Idempotent and safe to run twice at once: each batch takes only rows nobody else has locked
    (another purge's batch, a turn being stored) and the next run takes what was skipped.
    ``max_batches`` bounds one run; beat's next run goes on.
    """
    due = purge_due(reason=reason)
    if due is None:
        return 0
    batch_size = batch_size or settings.PURGE_BATCH_SIZE
    candidates = Interview.all_objects.annotate(retained_from=Coalesce("completed_at", "started_at")).filter(due)
    removed = 0
    for _ in range(max_batches):
        with transaction.atomic():
            # ``of=("self",)``: lock the interview rows only. No ORDER BY on the annotation: a
            # locking read orders by primary key, which keeps two purges' lock order the same.
            ids = list(
                candidates.order_by("pk")
                .select_for_update(skip_locked=True, of=("self",))
                .values_list("pk", flat=True)[:batch_size]
            )
            if ids:
                _remove(ids, reason=reason)
        removed += len(ids)
        if len(ids) < batch_size:
            break
    return removed


def employee_erase(*, employee, requested_by=None) -> DataDeletion:
    """Erase one employee's interviews (soft-deleted ones too) with everything attached, in one
    transaction, and deactivate the account (docs/admin.md, "Erasing an employee's data").

    Waits for locks rather than skipping rows, so nothing of theirs is left behind. The audit
    row keeps who asked, when, the employee's opaque UUID and the counts.
    """
    with transaction.atomic():
        ids = list(
            Interview.all_objects.filter(employee=employee)
            .order_by("pk")
            .select_for_update(of=("self",))
            .values_list("pk", flat=True)
        )
        record = _remove(ids, reason=Reason.ERASURE, requested_by=requested_by, employee_id=employee.employee_id)
        if employee.is_active:
            employee.is_active = False
            employee.save(update_fields=["is_active"])
    return record


def _remove(ids: list[uuid.UUID], *, reason: str, requested_by=None, employee_id=None) -> DataDeletion:
    """Delete the locked interviews ``ids`` for good (the caller's transaction) and audit it."""
    messages = InterviewMessage.objects.filter(interview_id__in=ids).count() if ids else 0
    if ids:
        # Receivers clean up outside the rows (files in storage); inside the transaction, so a
        # failing receiver rolls the deletion back and the next run tries again.
        interviews_purged.send(sender=Interview, interview_ids=ids, reason=str(reason))
        Interview.all_objects.filter(pk__in=ids).delete()
        events.close_on_commit(ids)
    return DataDeletion.objects.create(
        reason=reason,
        requested_by=requested_by,
        employee_id=employee_id,
        interview_count=len(ids),
        message_count=messages,
    )
