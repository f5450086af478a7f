"""The patched framework internals and their version guards (interviewsvc/compat.py).

Each patching module refuses to import outside the version range it was written for; these tests
show it by executing a fresh copy of the module under a faked installed version. The patches'
behaviour against the installed versions is tested here where no other test covers it directly:
close codes under daphne (also tests/interviews/test_realtime_daphne.py), body limits
(tests/test_body_limits.py), the ASGI handler (tests/test_asgi.py), the channel layer across a
Redis restart (tests/test_channel_layer.py, tests/test_faults.py), the list count cache
(tests/interviews/test_api_list_count.py).
"""

import importlib.util
from importlib import metadata
from pathlib import Path
from unittest import mock

import pytest
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from interviewsvc import compat
from interviewsvc.compat import PATCHES, PatchOutOfRange

PATCH_IDS = [f"{p.module}:{p.distribution}" for p in PATCHES]


def fresh_import(name: str):
    """Execute the module's code again in a new module object; sys.modules keeps the original."""
    spec = importlib.util.find_spec(name)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def outside(spec: str, installed: str) -> list[str]:
    """A version just past the range and one below it."""
    current = Version(installed)
    versions = [f"{current.major}.{current.minor + 1}.0", f"{current.major - 1}.0.0"]
    assert not any(SpecifierSet(spec).contains(v) for v in versions)
    return versions


@pytest.mark.parametrize("patch", PATCHES, ids=PATCH_IDS)
def test_every_patch_range_holds_the_installed_version(patch):
    assert Version(metadata.version(patch.distribution)) in SpecifierSet(patch.spec)


@pytest.mark.parametrize("patch", PATCHES, ids=PATCH_IDS)
def test_a_patch_module_refuses_to_import_when_its_library_leaves_the_range(patch, monkeypatch):
    real = compat.installed_version
    installed = real(patch.distribution)
    for fake in outside(patch.spec, installed):
        monkeypatch.setattr(
            compat, "installed_version", lambda dist, fake=fake: fake if dist == patch.distribution else real(dist)
        )
        with pytest.raises(PatchOutOfRange) as refused:
            fresh_import(patch.module)
        message = str(refused.value)
        assert patch.module in message
        assert patch.what in message
        assert f"{patch.distribution} {patch.spec}" in message
        assert f"{patch.distribution} {fake} is installed" in message
        assert patch.remeasure in message
    monkeypatch.setattr(compat, "installed_version", real)
    assert fresh_import(patch.module).__name__ == patch.module  # and imports again with the real version


def test_every_patching_module_is_registered_and_a_missing_library_is_no_error():
    with pytest.raises(compat.ImproperlyConfigured, match="not registered"):
        compat.guard("interviewsvc.settings")
    compat.require("no-such-distribution-installed", ">=1,<2", patch="x", remeasure="y")


# --- Behaviour against the installed versions --------------------------------------------------


def test_daphne_sends_protocol_close_codes_as_frames_and_the_rest_through_autobahn():
    from daphne.ws_protocol import WebSocketProtocol

    from interviewsvc.daphne_close_codes import allow_protocol_close_codes

    allow_protocol_close_codes()
    allow_protocol_close_codes()  # idempotent: the patch does not wrap itself
    assert WebSocketProtocol.serverClose.allows_protocol_codes
    assert WebSocketProtocol.serverClose.__module__ == "interviewsvc.daphne_close_codes"
    protocol = WebSocketProtocol.__new__(WebSocketProtocol)
    protocol.sendCloseFrame = mock.Mock()
    protocol.sendClose = mock.Mock()
    protocol.serverClose(1009)
    protocol.sendCloseFrame.assert_called_once_with(code=1009, isReply=False)
    protocol.sendClose.assert_not_called()
    protocol.serverClose(4429)
    protocol.serverClose()
    assert protocol.sendClose.call_args_list == [mock.call(code=4429), mock.call(code=1000)]
    assert protocol.sendCloseFrame.call_count == 1


def test_daphne_builds_body_limited_requests():
    from daphne import http_protocol
    from twisted.web.http import Request

    from interviewsvc.daphne_body_limit import install

    install()
    limited = http_protocol.WebRequest
    install()  # idempotent
    assert http_protocol.WebRequest is limited
    assert limited.limits_body
    assert limited.__name__ == "BodyLimitedWebRequest"
    assert issubclass(limited, Request)


async def test_the_consumer_dispatches_without_closing_old_connections_per_message(monkeypatch):
    from channels import consumer as channels_consumer

    from interviews.realtime.consumer import InterviewConsumer

    closed = mock.AsyncMock()
    monkeypatch.setattr(channels_consumer, "aclose_old_connections", closed)
    handled = []

    class Probe(InterviewConsumer):
        async def probe_event(self, message):
            handled.append(message)

    await Probe().dispatch({"type": "probe.event"})
    assert handled == [{"type": "probe.event"}]
    assert closed.await_count == 0
    with pytest.raises(ValueError, match=r"No handler for message type nothing\.here"):
        await Probe().dispatch({"type": "nothing.here"})
    # Channels' own dispatch still makes the call the override drops: the override still matters.
    await channels_consumer.AsyncConsumer.dispatch(Probe(), {"type": "probe.event"})
    assert closed.await_count == 1


def test_the_filter_form_class_is_built_once_and_still_validates():
    from interviews.filters import InterviewFilter
    from interviews.models import Interview

    first = InterviewFilter({"status": "nonsense"}, queryset=Interview.objects.none())
    second = InterviewFilter({"status": "completed"}, queryset=Interview.objects.none())
    assert first.get_form_class() is second.get_form_class()
    assert not first.is_valid()
    assert "status" in first.errors
    assert second.is_valid()
    assert first.form is not second.form


@pytest.mark.parametrize("patch", PATCHES, ids=PATCH_IDS)
def test_the_operations_guide_lists_every_patch_and_its_range(patch):
    guide = (Path(__file__).resolve().parent.parent / "docs" / "operations.md").read_text()
    section = guide.split("## Patched framework internals", 1)[1].split("\n## ", 1)[0]
    row = next(line for line in section.splitlines() if f"`{patch.module.replace('.', '/')}.py`" in line)
    assert f"{patch.distribution} `{patch.spec}`" in row
