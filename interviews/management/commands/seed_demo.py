"""Create demo users of each role and a few interviews with transcripts. Idempotent."""

import uuid

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from tqdm import tqdm

from accounts.models import Role, User
from accounts.services import user_create
from interviews.models import Interview, InterviewStatus, Language, TechnicalLevel
from interviews.services import interview_continue, interview_start, interview_status_change

DEMO_ORG = uuid.UUID("0193a1b2-0000-7000-8000-00000000d3e0")
DEMO_PASSWORD = "demo-pass-123"
DEMO_USERS = [
    ("demo-employee", Role.EMPLOYEE, False),
    ("demo-employee-en", Role.EMPLOYEE, False),
    ("demo-staff", Role.STAFF, False),
    ("demo-admin", Role.ADMIN, False),
    ("demo-superuser", Role.ADMIN, True),
]
ANSWERS = {
    Language.ES: [
        "Soy analista de compras y gestiono unos 40 pedidos de materiales a la semana para la planta.",
        "Recibo la solicitud por correo, reviso el stock en SAP, pido tres cotizaciones y creo la orden.",
        "Uso SAP, Excel para comparar cotizaciones y el portal de proveedores.",
        "Entra una solicitud aprobada en el portal y sale un pedido enviado al proveedor.",
        "A veces el stock en SAP no está actualizado; llamo al almacén para confirmarlo.",
        "Automatizaría en SAP la comparación de cotizaciones y la alerta de stock bajo.",
    ],
    Language.EN: [
        "I am an accounts payable clerk; I process supplier invoices every day.",
        "I receive the invoice by email, match it to the purchase order in Oracle, and approve payment.",
        "Oracle ERP, Outlook and a shared Excel tracker for exceptions.",
        "Inputs are invoices and purchase orders; the output is an approved payment batch.",
        "Invoices without a PO number get stuck; I email the requester to find it.",
        "I would add automatic three-way matching and reminders for missing PO numbers.",
    ],
}


class Command(BaseCommand):
    help = "Create demo users (printing their credentials) and demo interviews. Safe to run again."

    def add_arguments(self, parser):
        parser.add_argument("--interviews", type=int, default=4, help="Interviews per demo employee (default 4)")
        parser.add_argument(
            "--force",
            action="store_true",
            help="Run with DEBUG off too (creates a superuser whose password is printed here and public).",
        )

    def handle(self, *args, interviews: int, force: bool, **options):
        if not settings.DEBUG and not force:
            # The demo users' password is in the source: on a production database they would be
            # a superuser anyone can sign in as.
            raise CommandError(
                "seed_demo creates users with a public password (a superuser among them) and runs only "
                "with DEBUG=1; add --force to seed a database with DEBUG off anyway."
            )
        users = {}
        for username, role, superuser in DEMO_USERS:
            user = User.objects.filter(username=username).first()
            if user is None:
                user = user_create(
                    username=username,
                    password=DEMO_PASSWORD,
                    role=role,
                    email=f"{username}@example.com",
                    organization_id=DEMO_ORG,
                    is_superuser=superuser,
                )
            users[username] = user

        # Idempotent by count: each demo employee ends up with ``interviews`` interviews.
        todo = [
            (users[username], language, n)
            for username, language in (("demo-employee", Language.ES), ("demo-employee-en", Language.EN))
            for n in range(Interview.objects.filter(employee=users[username]).count(), interviews)
        ]
        for user, language, n in tqdm(todo, desc="demo interviews", disable=len(todo) < 20 or None):
            self._interview(user, language, n)

        self.stdout.write(self.style.SUCCESS("Demo data ready. Sign in to the admin (/admin/) with:"))
        for username, role, superuser in DEMO_USERS:
            kind = "superuser" if superuser else role
            self.stdout.write(f"  {username:<18} password {DEMO_PASSWORD}   ({kind})")

    @transaction.atomic
    def _interview(self, user, language, n: int) -> None:
        levels = list(TechnicalLevel.values)
        result = interview_start(user=user, language=language, technical_level=levels[n % len(levels)])
        interview = result.interview
        answers = ANSWERS[language][: 2 + n * 2] if n < 2 else ANSWERS[language]
        for answer in answers:
            turn = interview_continue(interview_id=interview.id, answer=answer)
            if turn.is_final:
                break
        if n == 3 and Interview.objects.filter(pk=interview.pk, status=InterviewStatus.IN_PROGRESS).exists():
            interview_status_change(interview_id=interview.id, status=InterviewStatus.PAUSED)
