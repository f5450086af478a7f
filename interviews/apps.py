from django.apps import AppConfig


class InterviewsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "interviews"

    def ready(self) -> None:
        from interviewsvc import openapi  # noqa: F401 - registers the schema's input extensions
