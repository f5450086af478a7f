from django.apps import AppConfig


class InterviewsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "interviews"

    def ready(self) -> None:
        from interviews.exports import jobs  # noqa: F401 - connects the purge receiver of export jobs
        from interviewsvc import openapi  # noqa: F401 - registers the schema's input extensions
