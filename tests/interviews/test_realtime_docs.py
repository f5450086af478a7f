"""docs/realtime.md's example client runs as printed, against a live daphne, through a whole interview
(tests/test_docs.py runs the page's own command, which stops after two answers)."""

import re
import subprocess
import sys

import pytest

from accounts.models import Role
from interviews.models import Interview, InterviewStatus
from tests.docs_support import blocks
from tests.factories import ORG_A, PASSWORD, UserFactory
from tests.interviews.realtime_support import LONG_ANSWER, daphne, server_env, shared_database

pytestmark = pytest.mark.django_db(transaction=True)


def example_client() -> str:
    clients = [block.body for block in blocks("docs/realtime.md") if block.file == "realtime_client.py"]
    assert len(clients) == 1, "docs/realtime.md should hold exactly one realtime_client.py"
    return clients[0]


def run_client(tmp_path, base: str, username: str, answers: list[str]) -> subprocess.CompletedProcess:
    script = tmp_path / "realtime_client.py"
    script.write_text(example_client())
    return subprocess.run(
        [sys.executable, str(script), base, username, PASSWORD],
        input="".join(f"{a}\n" for a in answers),
        capture_output=True,
        text=True,
        timeout=120,
        env=server_env({}),
    )


def test_example_client_takes_a_whole_interview_and_stops_at_end_of_input(tmp_path):
    with shared_database(tmp_path) as db_env:
        finisher = UserFactory(role=Role.EMPLOYEE, organization_id=ORG_A)
        quitter = UserFactory(role=Role.EMPLOYEE, organization_id=ORG_A)
        with daphne(db_env, tmp_path / "daphne.log") as base:
            done = run_client(tmp_path, base, finisher.username, [LONG_ANSWER] * 6)
            stopped = run_client(tmp_path, base, quitter.username, [LONG_ANSWER] * 2)

        assert done.returncode == 0, done.stderr
        assert "connected as participant, last sequence 1" in done.stdout
        assert len(re.findall(r"^Q\d/6: ", done.stdout, flags=re.M)) == 7  # six questions and the closing line
        assert "interview complete: overall score" in done.stdout
        finished = Interview.objects.get(employee=finisher)
        assert (finished.status, finished.message_count) == (InterviewStatus.COMPLETED, 13)

        assert stopped.returncode == 0, stopped.stderr
        assert "no more answers" in stopped.stdout
        left = Interview.objects.get(employee=quitter)
        assert (left.status, left.message_count) == (InterviewStatus.IN_PROGRESS, 5)
