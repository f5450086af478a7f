"""Signals of the interviews app."""

from django.dispatch import Signal

# Sent just before interviews are removed for good (retention purge, soft-delete expiry,
# erasure of an employee's data), inside the deleting transaction, with
# ``interview_ids`` (a list of UUIDs) and ``reason`` ("retention", "soft_delete_expired" or
# "erasure"). Receivers delete what lives outside the database rows that cascade (files in
# storage, caches); they must not fail the purge for a file already gone.
interviews_purged = Signal()
