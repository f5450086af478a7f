"""``manage.py reports_backfill``: ask for the report of every completed interview that has none.

For interviews completed before reports existed, or whose report task failed for good (logged
and reported). Each is one ``report_generate`` task with the key ``completed``, so running the
command twice, or while a report is being made, adds no second version (docs/operations.md).
"""

from django.core.management.base import BaseCommand

from interviews.models import Interview, InterviewStatus
from interviews.reports.services import interview_report_request


class Command(BaseCommand):
    help = "Enqueue the report of every completed interview that has none yet."

    def add_arguments(self, parser):
        parser.add_argument("--limit", type=int, default=1000, help="At most this many interviews (default 1000).")

    def handle(self, *args, limit: int, **options):
        missing = (
            Interview.objects.filter(status=InterviewStatus.COMPLETED, reports__isnull=True)
            .order_by("completed_at")
            .only("id")[:limit]
        )
        count = 0
        for interview in missing.iterator(chunk_size=500):
            interview_report_request(interview=interview)
            count += 1
        self.stdout.write(f"{count} report(s) asked for.")
