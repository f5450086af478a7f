import uuid

import factory
from django.utils import timezone

from accounts.models import Role, User
from interviews.engine.plans import builtin_plan_data
from interviews.models import Interview, InterviewMessage, InterviewPlan, MessageRole

ORG_A = uuid.UUID("0193a1b2-0000-7000-8000-0000000000aa")
ORG_B = uuid.UUID("0193a1b2-0000-7000-8000-0000000000bb")
PASSWORD = "pass-word-123"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    role = Role.EMPLOYEE
    organization_id = ORG_A
    password = factory.django.Password(PASSWORD)
    is_staff = factory.LazyAttribute(lambda u: u.role in (Role.STAFF, Role.ADMIN))


class InterviewFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Interview

    employee = factory.SubFactory(UserFactory)
    organization_id = factory.LazyAttribute(lambda i: i.employee.organization_id)
    language = "es"
    technical_level = "basic"
    started_at = factory.LazyFunction(timezone.now)


def add_messages(interview: Interview, count: int, *, start: int | None = None) -> list[InterviewMessage]:
    """Insert ``count`` alternating messages directly (test data, not the service path)."""
    first = interview.message_count + 1 if start is None else start
    now = timezone.now()
    messages = [
        InterviewMessage(
            interview=interview,
            role=MessageRole.ASSISTANT if (first + i) % 2 else MessageRole.USER,
            content=f"message {first + i}",
            sequence_number=first + i,
            created_at=now,
        )
        for i in range(count)
    ]
    InterviewMessage.objects.bulk_create(messages)
    Interview.objects.filter(pk=interview.pk).update(message_count=first + count - 1)
    interview.refresh_from_db()
    return messages


def default_plan_row():
    """The built-in plan stored as the default ``InterviewPlan`` row (created once)."""
    data = builtin_plan_data()
    plan, _ = InterviewPlan.objects.get_or_create(
        slug=data["slug"],
        defaults={
            "name": data["name"],
            "topics": data["topics"],
            "follow_up": data["follow_up"],
            "closing": data["closing"],
            "is_default": True,
        },
    )
    return plan
