# The Celery app is loaded with Django so that tasks declared with ``shared_task`` bind to it
# (and ``enqueue`` sends them with its broker settings) in web processes too.
from interviewsvc.celery import app as celery_app

__all__ = ("celery_app",)
