"""``manage.py erase_employee <username or employee id> --yes``: erase one employee's data.

Every interview of the employee (soft-deleted ones too) with its messages, reviews and report,
and (through ``interviews_purged``) its export files; the account is deactivated, and one
content-free audit row says who asked, when and how many (docs/admin.md, "Erasing an
employee's data"). Without ``--yes`` it only says what it would erase.
"""

import uuid

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from interviews.models import Interview
from interviews.services.lifecycle import employee_erase


def find_employee(identifier: str):
    users = get_user_model().objects
    try:
        by_id = {"employee_id": uuid.UUID(identifier)}
    except ValueError:
        by_id = None
    user = users.filter(**by_id).first() if by_id else None
    user = user or users.filter(username=identifier).first()
    if user is None:
        raise CommandError(f'No user with the username or employee id "{identifier}".')
    return user


class Command(BaseCommand):
    help = "Erase every interview of one employee (messages, reviews, reports, export files) and deactivate them."

    def add_arguments(self, parser):
        parser.add_argument("employee", help="The username or the employee id (UUID).")
        parser.add_argument("--yes", action="store_true", help="Erase for real (without it: only count).")
        parser.add_argument("--requested-by", default=None, help="Username of whoever asked, for the audit log.")

    def handle(self, *args, employee: str, yes: bool, requested_by: str | None, **options):
        user = find_employee(employee)
        requester = find_employee(requested_by) if requested_by else None
        count = Interview.all_objects.filter(employee=user).count()
        if not yes:
            self.stdout.write(
                f"Would erase {count} interview(s) of employee {user.employee_id} and deactivate the account. "
                "Run again with --yes to do it."
            )
            return
        record = employee_erase(employee=user, requested_by=requester)
        self.stdout.write(
            f"Erased {record.interview_count} interview(s), {record.message_count} message(s) of employee "
            f"{user.employee_id}; the account is deactivated. Audit record {record.id}."
        )
