"""Run by .ci/run in a venv holding requirements.txt alone (what the image installs).

Imports every module of the service, then runs ``manage.py check --deploy --fail-level WARNING``
with the environment of docs/operations.md's "Settings for production" block, so a runtime
import of a development-only package (pytest, factory_boy, ...) or a missing runtime pin fails
CI. Standard library only: nothing but requirements.txt is installed here.
"""

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("interviewsvc", "accounts", "interviews")


def production_env() -> dict[str, str]:
    text = (ROOT / "docs" / "operations.md").read_text()
    section = text.split("### Settings for production", 1)[1]
    block = re.search(r"```env\n(.*?)```", section, re.DOTALL).group(1)
    env = dict(line.split("=", 1) for line in block.splitlines() if line and not line.startswith("#"))
    return {**env, "SECRET_KEY": secrets.token_urlsafe(50)}


def main() -> int:
    env = {**os.environ, **production_env(), "DJANGO_SETTINGS_MODULE": "interviewsvc.settings"}
    importer = (
        "import django, importlib, pkgutil\n"
        "django.setup()\n"
        f"for package in {PACKAGES!r}:\n"
        "    module = importlib.import_module(package)\n"
        "    for info in pkgutil.walk_packages(module.__path__, package + '.'):\n"
        "        importlib.import_module(info.name)\n"
        "print('imported every module of', ', '.join(" + repr(PACKAGES) + "))\n"
    )
    steps = [
        [sys.executable, "-c", importer],
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
    ]
    for step in steps:
        result = subprocess.run(step, cwd=ROOT, env=env)
        if result.returncode:
            return result.returncode
    return 0


if __name__ == "__main__":
    sys.exit(main())
