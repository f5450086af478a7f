"""The version ranges the project's patches of third-party internals were written for.

Several modules replace or subclass private parts of daphne, Twisted, Django, Channels and
channels_redis, each for a measured reason written at its top. A new release may rename or
change those parts, and the failure would show far away (a wrong close code, a socket gone deaf
after a Redis restart) or not at all. So each such module calls :func:`guard` with its own name
at import: outside the range in :data:`PATCHES` the process refuses to start, naming the patch,
the range, the installed version and what to re-check. On an upgrade: read the patch against the
new release, re-run what ``remeasure`` names, then widen the range here (docs/operations.md,
"Patched framework internals"). tests/test_compat.py checks every entry.

Only the standard library, Django and ``packaging`` (pinned in requirements.txt) are imported.
"""

from dataclasses import dataclass
from importlib import metadata

from django.core.exceptions import ImproperlyConfigured
from packaging.specifiers import SpecifierSet
from packaging.version import Version


class PatchOutOfRange(ImproperlyConfigured):
    """An installed library is outside the version range a patch of its internals was written for."""


@dataclass(frozen=True)
class Patch:
    module: str  # the module that patches, and calls guard(module) at import
    what: str  # the internals it relies on
    distribution: str
    spec: str
    remeasure: str  # what to re-run or re-read before widening the range


PATCHES: tuple[Patch, ...] = (
    Patch(
        "interviewsvc.daphne_close_codes",
        "replaces daphne's WebSocketProtocol.serverClose",
        "daphne",
        ">=4.2,<4.3",
        "tests/interviews/test_realtime_daphne.py and tests/test_compat.py (close codes 1009/1013 under daphne)",
    ),
    Patch(
        "interviewsvc.daphne_body_limit",
        "subclasses daphne's WebRequest, HTTPFactory.buildProtocol looking it up by name",
        "daphne",
        ">=4.2,<4.3",
        "tests/test_body_limits.py (300 MB bodies against a real daphne)",
    ),
    Patch(
        "interviewsvc.daphne_body_limit",
        "overrides twisted Request.gotLength/handleContentChunk/requestReceived, HTTPChannel.dataReceived",
        "Twisted",
        ">=26.10,<26.11",
        "tests/test_body_limits.py (300 MB bodies against a real daphne)",
    ),
    Patch(
        "interviewsvc.asgi_handler",
        "skips ASGIHandler.__init__, copies Django 5.2's run_get_response and its private _handler_class",
        "Django",
        ">=5.2,<5.3",
        "tests/test_asgi.py, bench/patches_bench.py and bench/rest_bench.py (docs/operations.md, 'Benchmarks')",
    ),
    Patch(
        "interviewsvc.channel_layer",
        "subclasses channels_redis' pub/sub internals: _shards, _redis, _pubsub, _do_receiving, "
        "_get_layer, _layers, utils._wrap_close",
        "channels-redis",
        ">=4.3,<4.4",
        "tests/test_channel_layer.py and tests/test_faults.py (Redis restarts under live sockets)",
    ),
    Patch(
        "interviews.realtime.consumer",
        "InterviewConsumer.dispatch copies Channels' dispatch without aclose_old_connections()",
        "channels",
        ">=4.3,<4.4",
        "Channels' AsyncConsumer.dispatch against the override, bench/patches_bench.py and bench/ws_bench.py",
    ),
    Patch(
        "interviews.selectors",
        "interview_count keys its count cache on Query.sql_with_params()",
        "Django",
        ">=5.2,<5.3",
        "tests/interviews/test_api_list_count.py (equal filters must give equal cache keys)",
    ),
    Patch(
        "interviews.filters",
        "InterviewFilter.get_form_class caches django-filter's form class on the FilterSet class",
        "django-filter",
        ">=26.2,<26.3",
        "django-filter's FilterSet.get_form_class against the override, tests/interviews/test_api_list.py, "
        "bench/patches_bench.py and bench/rest_bench.py",
    ),
)


def installed_version(distribution: str) -> str:
    return metadata.version(distribution)


def require(distribution: str, spec: str, *, patch: str, remeasure: str) -> None:
    """Raise :class:`PatchOutOfRange` unless the installed ``distribution`` is within ``spec``.

    A distribution that is not installed passes: the patch then has nothing to patch (daphne's
    patches return when daphne cannot be imported).
    """
    try:
        installed = installed_version(distribution)
    except metadata.PackageNotFoundError:
        return
    if Version(installed) not in SpecifierSet(spec):
        raise PatchOutOfRange(
            f"{patch} patches internals of {distribution} {spec}, but {distribution} {installed} is installed. "
            f"Read the patch against {distribution} {installed}, re-check {remeasure}, "
            "then widen its range in interviewsvc/compat.py (docs/operations.md, 'Patched framework internals')."
        )


def guard(module: str) -> None:
    """Check every range registered for ``module`` (called at the top of each patching module)."""
    entries = [patch for patch in PATCHES if patch.module == module]
    if not entries:
        raise ImproperlyConfigured(f"{module} is not registered in interviewsvc.compat.PATCHES")
    for entry in entries:
        require(entry.distribution, entry.spec, patch=f"{entry.module} ({entry.what})", remeasure=entry.remeasure)
