"""`./dev mutate <module>` (docs/mutation.md): its usage, the pinned tool, and what it runs.

No mutation run here: a fake ``mutmut`` logs the arguments ``dev`` gives it.
"""

import subprocess
import tomllib
from pathlib import Path

from tests.test_packaging import fake_checkout
from tests.test_project import ROOT

MUTATED = (
    "interviews/permissions.py",
    "interviews/services/messages.py",
    "interviews/services/interviews.py",
    "interviews/services/turns.py",
    "interviews/services/reviews.py",
    "interviews/services/lifecycle.py",
)


def dev_mutate(checkout: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(checkout / "dev"), "mutate", *args],
        cwd=checkout,
        env={"PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_dev_mutate_without_a_module_prints_its_usage(tmp_path):
    checkout = fake_checkout(tmp_path)
    for args in ((), ("accounts/models.py",), ("interviews/services/nope.py",)):
        result = dev_mutate(checkout, *args)
        assert result.returncode == 2, args
        assert "./dev mutate interviews/permissions.py" in result.stderr or "no such module" in result.stderr, args
        assert not (checkout / "mutmut.log").exists(), args
    usage = subprocess.run([str(ROOT / "dev")], capture_output=True, text=True, timeout=60)
    assert "./dev mutate <module>" in usage.stderr


def test_dev_mutate_runs_only_that_modules_mutants_and_prints_its_survivors(tmp_path):
    checkout = fake_checkout(tmp_path)
    (checkout / "interviews" / "services").mkdir(parents=True)
    (checkout / "interviews" / "services" / "messages.py").write_text("")
    (checkout / ".venv" / "bin" / "mutmut").write_text(
        f'#!/bin/sh\necho "$*" >> {tmp_path}/mutmut.log\n'
        'if [ "$1" = results ]; then\n'
        '  echo "    interviews.services.messages.x_messages_build__mutmut_3: survived"\n'
        '  echo "    interviews.services.messages.x_interview_lock__mutmut_1: killed"\n'
        '  echo "    interviews.permissions.x_scope_of__mutmut_1: survived"\n'
        "fi\n"
    )
    (checkout / ".venv" / "bin" / "mutmut").chmod(0o755)
    result = dev_mutate(checkout, "interviews/services/messages.py")
    assert result.returncode == 0, result.stderr
    assert (checkout / "mutmut.log").read_text().splitlines() == ["run interviews.services.messages.*", "results"]
    assert "interviews.services.messages.x_messages_build__mutmut_3: survived" in result.stdout
    assert "killed" not in result.stdout
    assert "interviews.permissions" not in result.stdout


def test_mutmut_is_pinned_for_development_and_mutates_the_modules_the_docs_name():
    pins = [line.split("#")[0].strip() for line in (ROOT / "requirements-dev.txt").read_text().splitlines()]
    assert any(pin.startswith("mutmut==") for pin in pins)
    assert "mutmut" not in (ROOT / "requirements.txt").read_text()
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mutmut"]
    for module in MUTATED:
        assert config["source_paths"] == ["interviews/"]
        assert any(Path(module).match(pattern) for pattern in config["only_mutate"]), module
        assert module in (ROOT / "docs" / "mutation.md").read_text(), module
    for test_file in config["pytest_add_cli_args_test_selection"]:
        assert (ROOT / test_file).is_file(), test_file
    assert "mutants/" in (ROOT / ".gitignore").read_text().splitlines()
