"""The runnable blocks of README.md and docs/*.md, for tests/test_docs.py.

A fenced block is runnable when the line right before its opening fence is an HTML comment
(GitHub does not render it):

- ``<!-- doctest -->`` before a ``sh`` block: its commands run, in page order, in one bash
  session with ``set -euo pipefail`` (so a failing command, an HTTP error under ``curl -f`` or an
  unset variable fails the test); variables carry over from block to block and page to page.
- ``<!-- doctest: NAME -->`` before any block: its text is written to the file ``NAME`` in the
  working directory before the page's commands run (a script the page's commands execute).

Every other block (configuration, docker compose, nginx, ``./dev``, sample output) is left
unmarked and is only read.
"""

import re
from dataclasses import dataclass
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parents[1]
# The order a new user reads them in (README → api → realtime → exports → engine), then the rest.
READING_ORDER = ["README.md", "docs/api.md", "docs/realtime.md", "docs/exports.md", "docs/engine.md"]
# The address the pages name (`./dev run`'s); the test serves elsewhere and substitutes its own.
DOCS_BASE_URL = "http://127.0.0.1:8000"

FENCE = re.compile(
    r"^(?:<!--\s*doctest(?::\s*(?P<file>\S+))?\s*-->\n)?"  # the marker, if any
    r"(?P<fence>```+)(?P<info>[^\n`]*)\n(?P<body>.*?)^(?P=fence)[ \t]*$",
    flags=re.S | re.M,
)


@dataclass(frozen=True)
class Block:
    page: str  # path relative to the repository
    line: int  # line of the opening fence, 1-based
    info: str  # the fence's info string (language)
    body: str
    marked: bool  # preceded by <!-- doctest -->
    file: str | None  # preceded by <!-- doctest: NAME -->

    @property
    def where(self) -> str:
        return f"{self.page}:{self.line}"


def pages() -> list[str]:
    """README.md and every docs/*.md page, in reading order."""
    others = sorted(str(p.relative_to(BASE_DIR)) for p in (BASE_DIR / "docs").glob("*.md"))
    return READING_ORDER + [p for p in others if p not in READING_ORDER]


def blocks(page: str) -> list[Block]:
    text = (BASE_DIR / page).read_text()
    out = []
    for match in FENCE.finditer(text):
        marked = text[match.start() : match.start("fence")].strip() != ""
        out.append(
            Block(
                page=page,
                line=text.count("\n", 0, match.start("fence")) + 1,
                info=match["info"].strip(),
                body=match["body"],
                marked=marked,
                file=match["file"],
            )
        )
    return out


def script(base_url: str, where_file: Path) -> tuple[str, dict[str, str]]:
    """One bash script running every marked command block of every page in order, and the files
    the pages' ``doctest: NAME`` blocks define (``{name: text}``). Before each block the script
    writes the block's place to ``where_file`` so a failure can name it."""
    parts = ["set -euo pipefail"]
    files: dict[str, str] = {}
    for page in pages():
        for block in blocks(page):
            if block.file:
                files[block.file] = block.body
            elif block.marked:
                assert block.info in ("sh", "bash"), f"{block.where}: only sh blocks run as commands"
                parts.append(f"printf '%s\\n' {block.where!r} > {str(where_file)!r}")
                parts.append(block.body.replace(DOCS_BASE_URL, base_url))
    return "\n".join(parts) + "\n", files
