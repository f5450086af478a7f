"""The export formats: each turns a header and an iterable of turns into chunks of bytes.

Every output is safe for whoever opens it (docs/exports.md, "Hostile content"): CSV cells that
a spreadsheet would run as a formula are neutralised, Markdown escapes HTML, links and
block markers and keeps every line of an answer inside its quote, and the text formats never
let a line break in content or a name start a line of its own. Imported interviews and their
turns are marked in every format.

Text formats (json, md, txt, csv) are generators that never hold more than one buffer
(``BUFFER_BYTES``) of output and one chunk of rows. PDF and DOCX are documents that their
libraries build whole in memory before writing them out; they still read the turns through
the same iterator, so the database rows are never all loaded at once (see docs/exports.md for
the memory this costs).

Size: the six formats share the escaping rules above; one module keeps them side by side.
"""

import csv
import html
import io
import json
import logging
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from interviews.exports.data import ExportHeader, Turn
from interviews.models import ExportFormat
from interviews.serializers import iso

BUFFER_BYTES = 64 * 1024
# fpdf2 subsets the font with fontTools, which logs every table it prunes at INFO.
logging.getLogger("fontTools").setLevel(logging.WARNING)
FONT_DIR = Path(__file__).resolve().parent / "fonts"

Renderer = Callable[[ExportHeader, Iterable[Turn]], Iterator[bytes]]


def human_time(value) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value else "—"


IMPORTED_SOURCE = "migrated — turns imported from another system"
IMPORTED_MARK = " (imported)"


def one_line(text: str) -> str:
    r"""``text`` with every line break ``str.splitlines`` knows (``\r``, ``\u2028``, …) as a space."""
    return " ".join(text.splitlines())


def header_rows(header: ExportHeader) -> list[tuple[str, str]]:
    """The metadata as (label, value) lines for the formats people read."""
    duration = header.interview_duration_minutes
    return [
        ("Interview", str(header.interview_id)),
        ("Employee", f"{header.user_name} ({header.user_id})"),
        ("Employee role", header.user_role),
        ("Organization", header.organization or "—"),
        ("Date", human_time(header.interview_date)),
        ("Duration", f"{duration:g} min" if duration is not None else "—"),
        ("Status", header.status + (" (complete)" if header.is_complete else "")),
        ("Source", IMPORTED_SOURCE if header.imported else header.source),
        ("Language", header.language),
        ("Technical level", header.technical_level),
        ("Questions", str(header.total_questions)),
        ("Answers", str(header.total_user_responses)),
        ("Messages", str(header.total_messages)),
        ("Overall score", f"{header.overall_score} / 100" if header.overall_score is not None else "—"),
        ("Exported", f"{human_time(header.exported_at)} by {header.exported_by}"),
    ]


def review_texts(header: ExportHeader) -> list[tuple[str, list[str]]]:
    """The reviews (oldest first) as (title, lines) for PDF and DOCX; [] without reviews."""
    texts = []
    for review in header.reviews or ():
        title = f"{review.decision_label} · {one_line(review.reviewer)} · {human_time(review.created_at)}"
        lines = [f"Notes: {review.notes}"] if review.notes else []
        if review.score_override is not None:
            lines.append(f"Score overridden to {review.score_override} / 100: {review.override_reason}")
        texts.append((title, lines))
    return texts


def speaker(header: ExportHeader, turn: Turn) -> str:
    """Who spoke, for people, marked ``(imported)`` when another system wrote the turn."""
    return header.speaker(turn.role) + (IMPORTED_MARK if turn.imported else "")


def turn_title(header: ExportHeader, turn: Turn) -> str:
    return f"#{turn.sequence_number} · {one_line(speaker(header, turn))} · {human_time(turn.created_at)}"


def buffered(pieces: Iterable[str], size: int = BUFFER_BYTES) -> Iterator[bytes]:
    """Join small text pieces into UTF-8 chunks of about ``size`` bytes."""
    parts: list[str] = []
    length = 0
    for piece in pieces:
        parts.append(piece)
        length += len(piece)
        if length >= size:
            yield "".join(parts).encode()
            parts, length = [], 0
    if parts:
        yield "".join(parts).encode()


# --- json ------------------------------------------------------------------------------------


def _json(value) -> str:
    return json.dumps(value, ensure_ascii=False)


def render_json(header: ExportHeader, turns: Iterable[Turn]) -> Iterator[bytes]:
    """``InterviewExportData``, written incrementally: metadata, each turn, then the export facts."""

    def pieces():
        head = _json(header.as_json())
        yield head[:-1] + ', "conversation_history": ['
        separator = ""
        for turn in turns:
            yield separator + _json(turn.as_json())
            separator = ", "
        tail = _json({"exported_at": iso(header.exported_at), "exported_by": header.exported_by})
        yield "], " + tail[1:]

    return buffered(pieces())


# --- markdown / text -------------------------------------------------------------------------


# Inline Markdown that could make a link or an image (``[x](javascript:…)``), a code span, or
# undo an escape: backslash-escaped (CommonMark renders ``\[`` as ``[``). ``&``, ``<`` and ``>``
# become entities, so no raw HTML, autolink or entity trick survives.
_MD_INLINE = str.maketrans({"\\": "\\\\", "[": "\\[", "]": "\\]", "`": "\\`"})
# A line starting (after up to any indentation) with one of these could be a heading (``#``,
# a setext ``===``/``---`` underline), a list or a thematic break: escaped, so it stays text.
_MD_BLOCK_START = re.compile(r"^([ \t]*)([#=+*-])")


def md_inline(text: str) -> str:
    """``text`` as literal Markdown inline content: no HTML, link, image or code span."""
    return html.escape(text.translate(_MD_INLINE), quote=False)


def md_line(line: str) -> str:
    """One line of content (no line break in it), literal, unable to start a block of its own."""
    return _MD_BLOCK_START.sub(r"\1\\\2", md_inline(line))


def md_quote(text: str) -> str:
    r"""``text`` as a block quote: every line (split on every line break ``str.splitlines``
    knows, ``\r`` and ``\u2028`` included, since CommonMark ends a line at a bare ``\r``) starts
    with ``>``, so no line leaves the quote."""
    return "\n".join(f"> {md_line(line)}".rstrip() for line in text.splitlines() or [""])


def _md_cell(text: str) -> str:
    return md_inline(one_line(text)).replace("|", "\\|")


def render_md(header: ExportHeader, turns: Iterable[Turn]) -> Iterator[bytes]:
    def pieces():
        yield "# Interview transcript\n\n| Field | Value |\n|---|---|\n"
        for label, value in header_rows(header):
            yield f"| {label} | {_md_cell(value)} |\n"
        yield "\n## Conversation\n"
        for turn in turns:
            # The answer is quoted line by line so its own Markdown cannot break the layout.
            yield f"\n### {md_inline(turn_title(header, turn))}\n\n{md_quote(turn.content)}\n"

    return buffered(pieces())


def render_txt(header: ExportHeader, turns: Iterable[Turn]) -> Iterator[bytes]:
    def pieces():
        yield "Interview transcript\n====================\n\n"
        width = max(len(label) for label, _ in header_rows(header))
        for label, value in header_rows(header):
            yield f"{label + ':':<{width + 2}}{one_line(value)}\n"
        yield "\nConversation\n------------\n"
        for turn in turns:
            # Every line indented, whatever breaks it (a bare ``\r`` too): content cannot write
            # a line that looks like a turn title.
            body = "\n".join(f"    {line}" for line in turn.content.splitlines() or [""])
            yield f"\n{turn_title(header, turn)}\n{body}\n"

    return buffered(pieces())


# --- csv -------------------------------------------------------------------------------------

CSV_COLUMNS = ["interview_id", "sequence_number", "role", "speaker", "timestamp", "content", "source", "imported"]
# What makes a spreadsheet read a cell as a formula (OWASP, "CSV Injection"): = + - @, tab and
# CR; also their full-width forms, which some spreadsheet locales accept as the same.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def csv_cell(value) -> str:
    """``value`` as a cell no spreadsheet runs: one that starts with a formula character (also
    after leading whitespace, which some importers trim) gets a leading ``'``, the "this is
    text" mark spreadsheets hide."""
    text = str(value)
    if text.startswith(FORMULA_START) or text.lstrip().startswith(FORMULA_START):
        return "'" + text
    return text


def render_csv(header: ExportHeader, turns: Iterable[Turn]) -> Iterator[bytes]:
    """One row per turn, UTF-8 with a BOM so spreadsheet apps read the accents.

    Made to be opened in a spreadsheet (docs/exports.md): every cell goes through
    :func:`csv_cell`, and every field is quoted (OWASP's rule, beyond RFC 4180's minimal
    quoting), so a ``;`` or tab in content cannot start a new cell where the spreadsheet's
    locale splits on it. The JSON export is the verbatim machine format.
    """

    def pieces():
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n", quoting=csv.QUOTE_ALL)
        writer.writerow(CSV_COLUMNS)
        yield "\ufeff" + out.getvalue()
        interview_id = str(header.interview_id)
        for turn in turns:
            out.seek(0)
            out.truncate()
            row = [
                interview_id,
                turn.sequence_number,
                turn.role,
                header.speaker(turn.role),
                iso(turn.created_at),
                turn.content,
                header.source,
                "true" if turn.imported else "false",
            ]
            writer.writerow([csv_cell(cell) for cell in row])
            yield out.getvalue()

    return buffered(pieces())


# --- pdf / docx ------------------------------------------------------------------------------

# Characters XML 1.0 (DOCX) cannot hold and PDF fonts have no glyph for: C0 controls other
# than tab/newline, and the non-characters. They are replaced, never dropped silently.
_UNPRINTABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe\uffff\ud800-\udfff]")


def printable(text: str) -> str:
    """``text`` with every line break (``\\r``, ``\\r\\n``, ``\\u2028``, …) as ``\\n`` and the rest of
    :data:`_UNPRINTABLE` as U+FFFD."""
    return _UNPRINTABLE.sub("\ufffd", "\n".join(text.splitlines()))


def _slices(data: bytes, size: int = BUFFER_BYTES) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def _fitting_prefix(pdf, word: str, width: float) -> int:
    """The length of the longest prefix of ``word`` (at least one character) within ``width``."""
    low, high = 1, len(word)
    while low < high:
        middle = (low + high + 1) // 2
        if pdf.get_string_width(word[:middle]) <= width:
            low = middle
        else:
            high = middle - 1
    return low


def _wrap(pdf, text: str, width: float) -> Iterator[str]:
    """Lines of ``text`` that fit ``width`` in the current font.

    fpdf2's own ``multi_cell`` re-measures the line for every character it adds (about five
    times slower on a 10,000-message transcript); measuring each word once is enough here.
    """
    space = pdf.get_string_width(" ")
    widths: dict[str, float] = {}

    def measure(word: str) -> float:
        if word not in widths:
            widths[word] = pdf.get_string_width(word)
        return widths[word]

    for paragraph in text.split("\n"):
        line: list[str] = []
        line_width = 0.0
        for word in paragraph.split(" "):
            word_width = measure(word)
            while word_width > width:  # a word longer than the line: cut it where it fits
                cut = _fitting_prefix(pdf, word, width)
                if line:
                    yield " ".join(line)
                    line, line_width = [], 0.0
                yield word[:cut]
                word = word[cut:]
                word_width = measure(word)
            candidate = word_width if not line else line_width + space + word_width
            if line and candidate > width:
                yield " ".join(line)
                line, line_width = [word], word_width
            else:
                line.append(word)
                line_width = candidate
        yield " ".join(line)


def build_pdf(header: ExportHeader, turns: Iterable[Turn]) -> bytes:
    from fpdf import FPDF

    from interviews.exports.report import pdf_report

    class TranscriptPDF(FPDF):
        def footer(self):
            self.set_y(-12)
            self.set_font("DejaVu", "", 8)
            self.cell(0, 5, f"Interview {header.interview_id} · page {self.page_no()}", align="C")

    pdf = TranscriptPDF(format="A4")
    # DejaVu Sans (committed with its licence) covers Latin incl. Spanish, Greek, Cyrillic,
    # Hebrew, Arabic and many symbols, and is embedded as a subset so any viewer shows it.
    pdf.add_font("DejaVu", "", FONT_DIR / "DejaVuSans.ttf")
    pdf.add_font("DejaVu", "B", FONT_DIR / "DejaVuSans-Bold.ttf")
    pdf.set_title(f"Interview transcript {header.interview_id}")
    pdf.set_author(header.user_name)
    pdf.set_creator("interviewsvc")
    pdf.set_auto_page_break(auto=True, margin=16)
    pdf.add_page()
    pdf.set_font("DejaVu", "B", 16)
    pdf.cell(0, 10, "Interview transcript", new_x="LMARGIN", new_y="NEXT")
    for label, value in header_rows(header):
        pdf.set_font("DejaVu", "B", 9)
        pdf.cell(34, 5, label)
        pdf.set_font("DejaVu", "", 9)
        for line in _wrap(pdf, printable(value), pdf.epw - 34):
            pdf.set_x(pdf.l_margin + 34)
            pdf.cell(0, 5, line, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    pdf_report(pdf, header, wrap=_wrap, printable=printable)
    if header.reviews:
        pdf.set_font("DejaVu", "B", 12)
        pdf.cell(0, 8, "Reviews", new_x="LMARGIN", new_y="NEXT")
        for title, lines in review_texts(header):
            pdf.set_font("DejaVu", "B", 9)
            pdf.cell(0, 5, printable(title), new_x="LMARGIN", new_y="NEXT")
            pdf.set_font("DejaVu", "", 10)
            for text in lines:
                for line in _wrap(pdf, printable(text), pdf.epw):
                    pdf.cell(0, 5, line, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(4)
    # A heading of its own, as in the DOCX: after a report, the transcript is a new part.
    pdf.set_font("DejaVu", "B", 12)
    pdf.cell(0, 8, "Conversation", new_x="LMARGIN", new_y="NEXT")
    for turn in turns:
        pdf.ln(2)
        pdf.set_font("DejaVu", "B", 9)
        pdf.cell(0, 5, printable(turn_title(header, turn)), new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("DejaVu", "", 10)
        for line in _wrap(pdf, printable(turn.content), pdf.epw):
            pdf.cell(0, 5, line, new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def render_pdf(header: ExportHeader, turns: Iterable[Turn]) -> Iterator[bytes]:
    yield from _slices(build_pdf(header, turns))


def build_docx(header: ExportHeader, turns: Iterable[Turn]) -> bytes:
    from docx import Document
    from docx.shared import Pt

    from interviews.exports.report import docx_report

    document = Document()
    document.core_properties.title = f"Interview transcript {header.interview_id}"
    document.core_properties.author = "interviewsvc"
    document.add_heading("Interview transcript", level=1)
    table = document.add_table(rows=0, cols=2)
    table.style = "Light List Accent 1"
    for label, value in header_rows(header):
        cells = table.add_row().cells
        cells[0].text = label
        cells[1].text = printable(value)
    docx_report(document, header, printable=printable)
    if header.reviews:
        document.add_heading("Reviews", level=2)
        for title, lines in review_texts(header):
            run = document.add_paragraph().add_run(printable(title))
            run.bold = True
            for text in lines:
                document.add_paragraph(printable(text))
    document.add_heading("Conversation", level=2)
    for turn in turns:
        title = document.add_paragraph()
        run = title.add_run(printable(turn_title(header, turn)))
        run.bold = True
        run.font.size = Pt(9)
        title.paragraph_format.space_after = Pt(0)
        # One paragraph per turn; line breaks inside an answer become line breaks, not paragraphs.
        document.add_paragraph(printable(turn.content))
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def render_docx(header: ExportHeader, turns: Iterable[Turn]) -> Iterator[bytes]:
    yield from _slices(build_docx(header, turns))


# --- registry --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Format:
    name: str
    extension: str
    content_type: str
    render: Renderer
    streams: bool  # False: the whole document is built in memory before the first byte


FORMATS: dict[str, Format] = {
    f.name: f
    for f in (
        Format(ExportFormat.JSON, "json", "application/json; charset=utf-8", render_json, True),
        Format(ExportFormat.MD, "md", "text/markdown; charset=utf-8", render_md, True),
        Format(ExportFormat.TXT, "txt", "text/plain; charset=utf-8", render_txt, True),
        Format(ExportFormat.CSV, "csv", "text/csv; charset=utf-8", render_csv, True),
        Format(ExportFormat.PDF, "pdf", "application/pdf", render_pdf, False),
        Format(
            ExportFormat.DOCX,
            "docx",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            render_docx,
            False,
        ),
    )
}
EXPORT_FORMATS = list(FORMATS)


def export_filename(interview_id, fmt: Format) -> str:
    return f"interview-{interview_id}.{fmt.extension}"
