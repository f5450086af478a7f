"""``manage.py sweep_turns``: finish the turns whose worker is gone (one sweep; run it from cron).

Each daphne process also sweeps by itself every ``TURN_SWEEP_SECONDS``; this command is for
deployments that turn that off or want a sweep right now. See ``interviews.sweep``.
"""

import asyncio

from django.core.management.base import BaseCommand

from interviews.sweep import sweep_once


class Command(BaseCommand):
    help = "Finish interview turns that have waited on the interviewer past TURN_TIMEOUT_SECONDS."

    def add_arguments(self, parser):
        parser.add_argument("--limit", type=int, default=100, help="At most this many turns (default 100).")

    def handle(self, *args, limit: int, **options):
        finished = asyncio.run(sweep_once(limit=limit))
        self.stdout.write(f"{finished} turn(s) finished.")
