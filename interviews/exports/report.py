"""The interview's report in the PDF and DOCX exports (``interviews.reports.text`` reads it).

Text runs only: whatever an answer or a model's report says is drawn as text, never as markup,
links or fields (docs/exports.md, "Hostile content").
"""

from interviews.exports.data import ExportHeader
from interviews.reports.text import report_byline, report_sections

PENDING = "The report is being made; export again in a moment to include it."


def _byline(header: ExportHeader) -> str:
    report = header.report
    return report_byline(version=report.version, generated_by=report.generated_by, created_at=report.created_at)


def pdf_report(pdf, header: ExportHeader, *, wrap, printable) -> None:
    """Draw the report section (completed interviews only) at the current position of ``pdf``."""
    if not header.is_complete:
        return
    pdf.set_font("DejaVu", "B", 14)
    pdf.cell(0, 9, "Report", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("DejaVu", "", 8)
    pdf.set_text_color(90, 90, 90)
    pdf.cell(0, 5, _byline(header) if header.report else PENDING, new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(0, 0, 0)
    if header.report is None:
        pdf.ln(4)
        return
    for section in report_sections(header.report.document):
        pdf.ln(1.5)
        pdf.set_font("DejaVu", "B", 10 if section.subsection else 12)
        pdf.cell(0, 6 if section.subsection else 8, printable(section.title), new_x="LMARGIN", new_y="NEXT")
        indent = 4 if section.subsection else 0
        for entry in section.entries:
            width = pdf.epw - indent - 5
            if entry.label and not entry.numbered:  # a topic: its title and score on a line of its own
                pdf.set_font("DejaVu", "B", 10)
                pdf.set_x(pdf.l_margin + indent)
                pdf.cell(0, 5.5, printable(entry.label), new_x="LMARGIN", new_y="NEXT")
                text, first_indent = entry.text, 5
            else:
                text, first_indent = (f"{entry.label} {entry.text}" if entry.label else entry.text), 0
            pdf.set_font("DejaVu", "", 10)
            if entry.refs:
                text += f" ({entry.refs})"
            for i, line in enumerate(wrap(pdf, printable(text), width)):
                pdf.set_x(pdf.l_margin + indent + (first_indent if i == 0 else 5))
                pdf.cell(0, 5, line, new_x="LMARGIN", new_y="NEXT")
            pdf.ln(1)
    pdf.ln(4)


def docx_report(document, header: ExportHeader, *, printable) -> None:
    """Add the report section (completed interviews only) to the DOCX ``document``."""
    if not header.is_complete:
        return
    document.add_heading("Report", level=2)
    document.add_paragraph(_byline(header) if header.report else PENDING).runs[0].italic = True
    if header.report is None:
        return
    for section in report_sections(header.report.document):
        document.add_heading(printable(section.title), level=4 if section.subsection else 3)
        for entry in section.entries:
            # Steps are a numbered list (Word's own numbering); a topic's title leads in bold.
            paragraph = document.add_paragraph(style="List Number" if entry.numbered else None)
            if entry.label and not entry.numbered:
                paragraph.add_run(printable(entry.label) + ": ").bold = True
            paragraph.add_run(printable(entry.text))
            if entry.refs:
                paragraph.add_run(f" ({entry.refs})").italic = True
