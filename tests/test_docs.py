"""README.md and docs/ run as written: every command block a user copies is executed here, in
reading order, against a live daphne serving the demo data (`./dev run`'s users).

How a block is marked runnable (`<!-- doctest -->`, `<!-- doctest: FILE -->`) and how the
blocks run: tests/docs_support.py.
"""

import re
import subprocess
import sys
import zipfile
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken

from accounts.models import User
from interviews.management.commands.seed_demo import DEMO_USERS
from interviews.models import Interview, InterviewSource, InterviewStatus
from tests.docs_support import BASE_DIR, READING_ORDER, blocks, pages, script
from tests.interviews.realtime_support import daphne, server_env, shared_database

COMMANDS = ("sh", "bash", "")


def all_blocks():
    return [block for page in pages() for block in blocks(page)]


def workdir(tmp_path: Path) -> Path:
    """An empty directory to run the commands in (downloads land there), with `.venv/bin/python`
    (what the pages call) being this interpreter, as in a checkout after `./dev run`."""
    work = tmp_path / "work"
    work.mkdir()
    if sys.prefix != sys.base_prefix:  # a virtualenv: the same one, under the name the docs use
        (work / ".venv").symlink_to(sys.prefix, target_is_directory=True)
    else:
        (work / ".venv" / "bin").mkdir(parents=True)
        (work / ".venv" / "bin" / "python").symlink_to(sys.executable)
    return work


@pytest.mark.django_db(transaction=True)
def test_every_runnable_block_runs_as_written_against_a_live_server(tmp_path):
    with shared_database(tmp_path) as db_env:
        call_command("seed_demo", "--force", stdout=StringIO())
        before = set(Interview.objects.values_list("id", flat=True))
        with daphne(db_env, tmp_path / "daphne.log") as base:
            work = workdir(tmp_path)
            where = tmp_path / "where"
            text, files = script(base, where)
            for name, body in files.items():
                (work / name).write_text(body)
            run = subprocess.run(
                ["bash", "-c", text],
                cwd=work,
                capture_output=True,
                text=True,
                timeout=600,
                env=server_env({}),
            )
        failed_at = where.read_text().strip() if where.exists() else "before the first block"
        assert run.returncode == 0, f"the block at {failed_at} failed:\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}"

        # What the user sees having followed the pages: docs/api.md's walkthrough ...
        employee = User.objects.get(username="demo-employee")
        new = Interview.objects.exclude(id__in=before).filter(employee=employee)
        walked = new.get(language="en", technical_level="intermediate")
        assert walked.status == InterviewStatus.COMPLETED
        assert f"interview-{walked.id}.md" in {p.name for p in work.iterdir()}
        assert new.filter(source=InterviewSource.MIGRATED, session_id="browser-session-1").exists()
        fresh = new.get(language="en", technical_level="basic", source=InterviewSource.LIVE, message_count=3)
        assert fresh.status == InterviewStatus.IN_PROGRESS  # paused, resumed, answered once (SSE)
        assert BlacklistedToken.objects.filter(token__user=employee).count() == 2  # refreshed, logged out
        assert "refresh refused: logged out" in run.stdout
        # ... docs/realtime.md's client (two answers, then end of input) ...
        assert "connected as participant, last sequence 1" in run.stdout
        assert "no more answers; the interview stays in progress" in run.stdout
        assert new.filter(technical_level="basic", status=InterviewStatus.IN_PROGRESS, message_count=5).exists()
        # ... and docs/exports.md's downloads, real files rather than error bodies.
        pdf = next(work.glob("interview-*.pdf"))
        assert pdf.read_bytes().startswith(b"%PDF-")
        with zipfile.ZipFile(work / "interviews-es.zip") as archive:
            members = archive.namelist()
        assert members
        assert all(name.endswith(".csv") for name in members)
        # ... the export job's ZIP: the same members as the synchronous one.
        with zipfile.ZipFile(work / "interviews-es-job.zip") as archive:
            assert archive.namelist() == members


def test_every_command_a_user_copies_is_marked_runnable():
    """A new example with a command of the API, the socket client or an export is run by the
    test above, or this fails: it cannot be added unchecked. (docs/operations.md is about
    deployments, compose and benchmarks, which the suite cannot run; its `curl`s still need `-f`.)"""
    unmarked = [
        block.where
        for page in READING_ORDER
        for block in blocks(page)
        if block.info in COMMANDS and not block.marked and re.search(r"\bcurl\b|\$API|realtime_client", block.body)
    ]
    assert unmarked == []


def test_runnable_blocks_are_commands_or_named_files():
    wrong = [b.where for b in all_blocks() if b.marked and not b.file and b.info not in ("sh", "bash")]
    assert wrong == []
    assert any(b.marked for b in blocks("docs/api.md"))
    assert any(b.file == "realtime_client.py" for b in blocks("docs/realtime.md"))


def curl_commands(body: str) -> list[str]:
    joined = body.replace("\\\n", " ")
    return [m.group(0) for m in re.finditer(r"\bcurl\b[^|;)\n]*", joined)]


def test_every_curl_example_fails_on_http_errors_and_names_its_file():
    """`curl -f` everywhere: without it an error body passes for data (or for a download)."""
    fail = re.compile(r"(?:^|\s)(?:-[a-zA-Z]*f[a-zA-Z]*|--fail(?:-with-body)?)(?=\s|$)")
    commands = [(b.where, c) for b in all_blocks() for c in curl_commands(b.body)]
    assert len(commands) > 20
    assert [(where, c) for where, c in commands if not fail.search(c)] == []
    # -J takes the name from the response and refuses to overwrite an earlier download.
    assert [(where, c) for where, c in commands if re.search(r"\s-[a-zA-Z]*J|--remote-header-name", c)] == []


def test_readme_lists_every_demo_user():
    readme = (BASE_DIR / "README.md").read_text()
    assert [name for name, _, _ in DEMO_USERS if f"`{name}`" not in readme] == []


# Paths and the names of pages that live outside this repository (the contract and style pages
# the service was written from: what clients need of them is in docs/). Built in pieces so that
# this file does not match itself.
OUTSIDE = re.compile(
    "|".join(re.escape(s) for s in ["shared" + "/", "/work" + "/"]) + r"|\b(?:API|REALTIME|ENGINE|STYLE)\." + "md"
)
SOURCE_DIRS = ["interviewsvc", "accounts", "interviews", "tests", "bench", "templates", "docs", ".ci"]


def repository_text_files():
    yield from (BASE_DIR / name for name in ["README.md", "dev", "pyproject.toml", "Dockerfile"])
    for folder in SOURCE_DIRS:
        for path in (BASE_DIR / folder).rglob("*"):
            if path.suffix in (".py", ".md", ".html", ".txt", ".toml", ".yml", ".sh", "") and path.is_file():
                yield path


def test_no_doc_or_source_refers_to_files_outside_the_repository():
    found = []
    for path in repository_text_files():
        try:
            text = path.read_text()
        except (UnicodeDecodeError, FileNotFoundError):
            continue
        for n, line in enumerate(text.splitlines(), 1):
            if OUTSIDE.search(line):
                found.append(f"{path.relative_to(BASE_DIR)}:{n}: {line.strip()}")
    assert found == []


def test_every_repository_path_the_docs_name_exists():
    """A path in backticks (`interviews/realtime/consumer.py`) or a relative link names a file of
    this repository that is there."""
    missing = []
    for page in pages():
        text = (BASE_DIR / page).read_text()
        named = re.findall(r"`([A-Za-z_.][\w.-]*(?:/[\w.-]+)+/?)`", text)
        named += [target for target in re.findall(r"\]\(([^)#:\s]+)\)", text)]
        for name in named:
            path = (BASE_DIR / page).parent / name if name.startswith("..") else BASE_DIR / name
            if "." not in Path(name).name and not name.endswith("/"):
                continue  # a word with a slash (`live | migrated`), not a file
            if not path.resolve().is_relative_to(BASE_DIR) or not path.exists():
                missing.append(f"{page}: {name}")
    assert missing == []
