"""``manage.py purge_interviews``: one run of the data-lifecycle purge (run it from cron).

Beat runs the same every ``PURGE_INTERVAL_SECONDS`` where a worker runs the background jobs; this
command is for deployments without beat (the embedded setup) or a purge right now. See
``interviews.services.lifecycle``.
"""

from django.core.management.base import BaseCommand

from interviews.tasks import lifecycle_purge


class Command(BaseCommand):
    help = "Remove for good the interviews whose soft delete expired and those past RETENTION_DAYS."

    def handle(self, *args, **options):
        for reason, count in lifecycle_purge().items():
            self.stdout.write(f"{reason}: {count} interview(s) removed.")
