"""Bulk export: a ZIP of one file per interview, generated while it is sent.

``zipstream-ng`` writes each member from an iterator (local header, deflated data, data
descriptor) and the central directory at the end, so neither the archive nor any text member
is ever whole in memory; a PDF or DOCX member is, one at a time.
"""

import uuid
from collections.abc import Iterable, Iterator
from datetime import datetime

from zipstream import ZIP_DEFLATED, ZipStream

from interviews.exports.data import export_header, export_turns, interviews_in_order
from interviews.exports.formats import Format, export_filename


def archive_entries(
    *, interview_ids: list[uuid.UUID], export_format: Format, exported_by, now: datetime
) -> Iterator[tuple[str, Iterable[bytes]]]:
    """``(member name, lazy content)`` per interview, in the order of ``interview_ids``."""
    for interview in interviews_in_order(interview_ids):
        header = export_header(interview=interview, exported_by=exported_by, now=now)
        yield (
            export_filename(interview.id, export_format),
            export_format.render(header, export_turns(interview_id=interview.id, imported=header.imported)),
        )


def zip_chunks(entries: Iterable[tuple[str, Iterable[bytes]]]) -> Iterator[bytes]:
    """The ZIP archive of ``entries`` as a stream of bytes; members are read only when written."""
    archive = ZipStream(compress_type=ZIP_DEFLATED, sized=False)
    for name, content in entries:
        archive.add(content, name)
        yield from archive.all_files()
    yield from archive.footer()


def archive_filename(now: datetime) -> str:
    return f"interviews-{now:%Y%m%d-%H%M%S}.zip"
