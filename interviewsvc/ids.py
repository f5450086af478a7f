import uuid

import uuid6


def uuid7() -> uuid.UUID:
    """The project's one primary-key generator: time-ordered UUID v7 (RFC 9562).

    Time order keeps B-tree inserts append-only and makes ``ORDER BY id`` follow creation.
    Returned as a stdlib ``uuid.UUID`` so Django and JSON treat it like any UUID.
    """
    return uuid.UUID(int=uuid6.uuid7().int)
