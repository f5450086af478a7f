"""The layout rules of docs/architecture.md, checked over the source so they cannot drift."""

import ast
import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("accounts", "interviews", "interviewsvc")
MAX_LINES = 330  # STYLE's "~300 lines": past this a module says why at its top ("Size: ...")


def modules():
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" not in path.parts:
                yield path


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def imported_modules(path: Path) -> list[str]:
    """Every module ``path`` imports from (``from x import y`` gives ``x`` and ``x.y``)."""
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names += [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
    return names


def views_imports_across_packages(path: Path) -> list[str]:
    """Views modules of another package that ``path`` imports (URL configurations excepted)."""
    name = module_name(path)
    if name.rsplit(".", 1)[-1] in ("urls", "api_urls", "urls_pages", "routing", "routes"):
        return []
    package = name.rsplit(".", 1)[0]
    found = []
    for imported in imported_modules(path):
        parts = imported.split(".")
        if parts[0] not in PACKAGES:
            continue  # a library's views (rest_framework.views.APIView) are what views build on
        if "views" in parts:
            views_module = ".".join(parts[: parts.index("views") + 1])
            if views_module.rsplit(".", 1)[0] != package:
                found.append(views_module)
    return sorted(set(found))


def test_no_module_imports_a_helper_from_another_packages_views():
    offenders = {module_name(p): found for p in modules() if (found := views_imports_across_packages(p))}
    assert offenders == {}, "shared helpers belong in interviewsvc/api.py, selectors or services"


def test_the_check_sees_an_import_from_another_apps_views(tmp_path):
    """The rule above is not vacuous: the import this issue removed is caught."""
    offender = ROOT / "interviews" / "exports" / "_probe_views_import.py"
    offender.write_text("from interviews.views import parse_uuid\n")
    try:
        assert views_imports_across_packages(offender) == ["interviews.views"]
    finally:
        offender.unlink()
    same_package = ROOT / "interviews" / "_probe_views_import.py"
    same_package.write_text("from interviews.views import InterviewObjectView\n")
    try:
        assert views_imports_across_packages(same_package) == []
    finally:
        same_package.unlink()


@pytest.mark.parametrize("path", [p for p in modules() if len(p.read_text().splitlines()) > MAX_LINES], ids=str)
def test_a_long_module_says_why_at_its_top(path):
    docstring = ast.get_docstring(ast.parse(path.read_text())) or ""
    assert "Size:" in docstring, f"{path.relative_to(ROOT)} is over {MAX_LINES} lines: split it or say why"


def test_role_rules_are_written_once():
    """The reviewer predicate and the status rule live in interviews/permissions.py only."""
    written = {
        module_name(p)
        for p in modules()
        if "Role.STAFF, Role.ADMIN" in p.read_text() or "role == Role.ADMIN" in p.read_text()
    }
    # accounts.services sets Django's is_staff from the role when it provisions a user.
    assert written == {"interviews.permissions", "accounts.services"}


def dotted_exists(name: str) -> bool:
    """``name`` is a module of the project, or an attribute of one (a class, a function)."""
    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            target = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attribute in parts[cut:]:
            if not hasattr(target, attribute):
                return False
            target = getattr(target, attribute)
        return True
    return False


def test_every_dotted_name_the_code_cites_exists():
    """A comment or docstring pointing at ``interviews.services.x`` must point at something."""
    pattern = re.compile(r"``((?:accounts|interviews|interviewsvc)(?:\.\w+)+)``")
    stale = {
        f"{path.relative_to(ROOT)}: {name}"
        for path in modules()
        for name in pattern.findall(path.read_text())
        if not dotted_exists(name)
    }
    assert stale == set()
    assert not dotted_exists("interviews.services.no_such_module")
