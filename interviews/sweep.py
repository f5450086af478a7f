"""The periodic sweep: finish turns whose worker is gone (docs/realtime.md, "Turns").

A daphne process that dies mid-turn leaves the answer stored and the turn pending. Past its
deadline (``TURN_TIMEOUT_SECONDS``) the next caller takes it over; for interviews nobody comes
back to, a sweep runs every ``TURN_SWEEP_SECONDS``: on Celery beat when a worker runs the
background jobs (``interviews.tasks.turns_sweep``), otherwise in every daphne process
(:class:`SweepingApplication`, started with the first connection the process serves; also with a
worker when ``TURN_SWEEP_IN_WEB`` is set); ``manage.py sweep_turns`` does one sweep from cron.
Several sweepers at once are safe: taking a turn over happens under the row lock, so each turn
goes to exactly one of them.
"""

import asyncio
import logging
import random

from django.conf import settings

from interviews import services
from interviews.services.turns import db_async

logger = logging.getLogger("interviews.turns")


async def sweep_once(*, limit: int = 100) -> int:
    """Take over the turns past their deadline and finish them; how many were finished."""
    jobs = await db_async(services.turn_sweep, limit=limit)
    results = await asyncio.gather(*(services.turn_run(job, db=db_async) for job in jobs), return_exceptions=True)
    for job, result in zip(jobs, results, strict=True):
        if isinstance(result, BaseException):
            logger.error(
                "sweep could not finish turn %s of interview %s", job.turn_id, job.interview_id, exc_info=result
            )
    return sum(not isinstance(result, BaseException) for result in results)


async def sweep_forever(every: float) -> None:
    while True:
        # Processes started together do not sweep in lockstep.
        await asyncio.sleep(every * random.uniform(0.8, 1.2))
        try:
            finished = await sweep_once()
            if finished:
                logger.warning("sweep finished %d turn(s) left by a gone worker", finished)
        except Exception:  # the database may be away; try again next time
            logger.warning("turn sweep failed", exc_info=True)


class SweepingApplication:
    """ASGI middleware: starts this process's sweep on its event loop at the first connection."""

    def __init__(self, app):
        self.app = app
        self.task: asyncio.Task | None = None

    async def __call__(self, scope, receive, send):
        # With a Celery worker, beat runs the sweep instead (interviews/tasks.py).
        if settings.TURN_SWEEP_SECONDS > 0 and settings.TURN_SWEEP_IN_WEB:
            loop = asyncio.get_running_loop()
            if self.task is None or self.task.done() or self.task.get_loop() is not loop:
                self.task = loop.create_task(sweep_forever(settings.TURN_SWEEP_SECONDS))
        return await self.app(scope, receive, send)
