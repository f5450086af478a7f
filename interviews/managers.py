"""Managers of :class:`interviews.models.Interview`: soft-deleted interviews are invisible by default.

``Interview.objects`` (the default manager, so also every related manager such as
``user.interviews`` and every ``_default_manager`` use: admin, DRF, filters, exports) leaves out
soft-deleted rows, so no read can forget to. ``Interview.all_objects`` sees every row; only
the lifecycle services (soft delete, restore, purge, erasure), the admin of deleted interviews
and uniqueness checks that the database enforces over every row use it. Django's
``_base_manager`` stays a plain manager (a message's ``interview`` attribute still loads its
row, and deletion's cascade collects every row).
"""

from django.db import models


class LiveInterviewManager(models.Manager):
    def get_queryset(self) -> models.QuerySet:
        return super().get_queryset().filter(deleted_at__isnull=True)


class AllInterviewManager(models.Manager):
    """Every row, deleted or not (``Interview.all_objects``, the base manager)."""


class DeletedInterviewManager(models.Manager):
    def get_queryset(self) -> models.QuerySet:
        return super().get_queryset().filter(deleted_at__isnull=False)
