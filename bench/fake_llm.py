"""A local OpenAI-compatible Chat Completions server with a configurable latency, for benchmarks.

    .venv/bin/python bench/fake_llm.py [--port 8100] [--ttft 0.5] [--latency 2.0 | --tokens-per-second 30]

``POST /v1/chat/completions`` answers like a model would, without a model:

- with ``"stream": true``: ``200 text/event-stream`` at once, then, after ``--ttft`` seconds (the
  time to first token), the reply in chunks of ``--chars-per-token`` (4) characters (real
  ``chat.completion.chunk`` objects, one ``data:`` line each), a last chunk with
  ``finish_reason: "stop"`` (and a usage chunk when ``stream_options.include_usage``), then
  ``data: [DONE]``. With ``--latency`` the whole reply takes that long, the chunks spread evenly
  over the time after the first token; without it they follow at ``--tokens-per-second``. Chunks
  keep to a schedule counted from the request's arrival, so a late one does not delay the rest;
- without ``stream``: one ``chat.completion`` object after the whole latency.

The reply is in the service's streaming reply format (``docs/engine.md``): the question as plain
text (25-40 words, Spanish when the system prompt asks for Spanish, else English), a line with
only ``<<<TURN>>>``, then one JSON line ``{"is_final": false, "topic": n, "evaluation": {...}}``
(``evaluation`` null on a first turn, which has no assistant message in the request; ``topic``
is the number of assistant messages + 1, at most 6). ``is_final`` is always false: the service
ends an interview itself once the plan is done. A request with ``response_format`` ``json_object``
(the provider before v1.1) gets the JSON turn ``{"question", "is_final", "topic", "evaluation"}``
instead.

``GET /stats`` returns what a benchmark relates its client-side times to: requests and streams
so far, the most streams open at once, the server's CPU seconds, and per request ``tag`` (from
``[bench:<tag>]`` in the last user message, else null), ``arrived``, ``first_token`` and
``done`` (``time.monotonic()``, the same clock as every process on this machine uses), ``late``
(how far the last chunk went out behind its schedule, seconds) and ``aborted`` (the client went
away mid-reply). ``POST /stats/reset`` clears them. ``POST /config`` changes the timing of the
requests that arrive from then on (``{"ttft", "latency", "tokens_per_second", "chars_per_token"}``),
so one server serves a benchmark's scenarios one after the other.

Importable: :class:`FakeLLM` (``app()``), :func:`running` (serves it from a background thread),
:func:`chunks_of` and :func:`reply_for`.
"""

import argparse
import asyncio
import json
import re
import signal
import sys
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field

from aiohttp import web

TURN_MARKER = "<<<TURN>>>"
TOKEN_CHARS = 4
MAX_RECORDS = 200_000
TAG = re.compile(r"\[bench:([A-Za-z0-9_.:-]{1,80})\]")

QUESTIONS = {
    "en": [
        "Thanks for joining. To start, could you tell me what your role is and which main process you carry "
        "out day to day, from the moment a request reaches you until it is done?",
        "Could you walk me through that process step by step, saying who sends you the work, what you check "
        "first, which decisions you take and who receives the result at the end?",
        "Which tools, applications or systems do you use for each of those steps, and where do you copy or "
        "type the same information more than once because the systems do not talk to each other?",
        "What information do you need before you can start, where does it come from, and what do you "
        "produce at the end, in which format, and who depends on receiving it on time?",
        "Which problems or delays come up most often in this process, how much time do they cost you in a "
        "normal week, and what do you usually do to work around them?",
        "If you could change one thing about how this process works tomorrow, what would it be, and how "
        "would you know that the change really saved time or avoided mistakes?",
    ],
    "es": [
        "Gracias por participar. Para empezar, ¿podrías contarme cuál es tu puesto y qué proceso principal "
        "realizas en tu día a día, desde que te llega una solicitud hasta que la terminas?",
        "¿Podrías describirme ese proceso paso a paso, diciendo quién te envía el trabajo, qué revisas "
        "primero, qué decisiones tomas y quién recibe el resultado al final?",
        "¿Qué herramientas, aplicaciones o sistemas usas en cada uno de esos pasos, y dónde copias o "
        "escribes la misma información más de una vez porque los sistemas no se comunican?",
        "¿Qué información necesitas antes de empezar, de dónde viene, y qué entregas al final, en qué "
        "formato y quién depende de recibirlo a tiempo?",
        "¿Qué problemas o retrasos aparecen con más frecuencia en este proceso, cuánto tiempo te cuestan "
        "en una semana normal y qué haces normalmente para resolverlos?",
        "Si mañana pudieras cambiar una sola cosa de cómo funciona este proceso, ¿cuál sería, y cómo "
        "sabrías que el cambio de verdad ahorró tiempo o evitó errores?",
    ],
}
EVALUATIONS = {
    "en": {
        "score": 70,
        "feedback": "A clear answer with concrete tools; the volumes and the time each step takes are missing.",
        "strengths": ["Names the systems used", "Describes the steps in order"],
        "weaknesses": [],
    },
    "es": {
        "score": 70,
        "feedback": "Una respuesta clara con herramientas concretas; faltan los volúmenes y el tiempo de cada paso.",
        "strengths": ["Nombra los sistemas que usa", "Describe los pasos en orden"],
        "weaknesses": [],
    },
}


def _text(content) -> str:
    """A message's content as text (a string, or the parts form: a list of ``{"type", "text"}``)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(part.get("text", "") for part in content if isinstance(part, dict))
    return ""


def language_of(messages: list[dict]) -> str:
    system = " ".join(_text(m.get("content")) for m in messages if m.get("role") in ("system", "developer"))
    return "es" if re.search(r"\b(Spanish|español|espanol|castellano)\b", system, re.IGNORECASE) else "en"


def tag_of(messages: list[dict]) -> str | None:
    """The ``[bench:<tag>]`` in the last user message: which client turn this request serves."""
    for message in reversed(messages):
        if message.get("role") == "user":
            found = TAG.search(_text(message.get("content")))
            return found.group(1) if found else None
    return None


def reply_for(messages: list[dict], *, json_object: bool = False) -> str:
    """The model's reply to ``messages`` in the service's streaming reply format (or the JSON turn)."""
    language = language_of(messages)
    asked = sum(1 for m in messages if m.get("role") == "assistant")
    topic = min(asked + 1, len(QUESTIONS[language]))
    question = QUESTIONS[language][(topic - 1) % len(QUESTIONS[language])]
    evaluation = EVALUATIONS[language] if asked else None
    tail = {"is_final": False, "topic": topic, "evaluation": evaluation}
    if json_object:
        return json.dumps({"question": question, **tail}, ensure_ascii=False)
    return f"{question}\n{TURN_MARKER}\n{json.dumps(tail, ensure_ascii=False)}"


def chunks_of(text: str, size: int = TOKEN_CHARS) -> list[str]:
    """``text`` cut into "tokens" of ``size`` characters (the last one shorter)."""
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


@dataclass
class Record:
    tag: str | None
    stream: bool
    arrived: float
    first_token: float | None = None
    done: float | None = None
    late: float = 0.0
    aborted: bool = False


@dataclass
class FakeLLM:
    """The server's timing and what it saw. ``latency`` (total, seconds) wins over ``tokens_per_second``."""

    ttft: float = 0.5
    latency: float | None = None
    tokens_per_second: float = 30.0
    chars_per_token: int = TOKEN_CHARS
    records: list[Record] = field(default_factory=list)
    open_streams: int = 0
    most_open: int = 0

    def schedule(self, tokens: int) -> list[float]:
        """Seconds after arrival at which each of ``tokens`` chunks goes out."""
        if self.latency is not None and tokens > 1:
            step = max(0.0, self.latency - self.ttft) / (tokens - 1)
        elif self.latency is not None:
            return [max(self.ttft, self.latency)]
        else:
            step = 1.0 / self.tokens_per_second if self.tokens_per_second > 0 else 0.0
        return [self.ttft + i * step for i in range(tokens)]

    def reset(self) -> None:
        self.records.clear()
        self.most_open = self.open_streams

    def app(self) -> web.Application:
        app = web.Application(client_max_size=16 * 2**20)
        app.router.add_post("/v1/chat/completions", self.completions)
        app.router.add_post("/chat/completions", self.completions)
        app.router.add_get("/v1/models", self.models)
        app.router.add_get("/stats", self.stats)
        app.router.add_post("/stats/reset", self.stats_reset)
        app.router.add_post("/config", self.configure)
        return app

    # --- handlers ---------------------------------------------------------------------------

    async def models(self, request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": "fake-llm", "object": "model", "owned_by": "x"}]})

    async def stats(self, request: web.Request) -> web.Response:
        records = [
            {
                "tag": r.tag,
                "stream": r.stream,
                "arrived": r.arrived,
                "first_token": r.first_token,
                "done": r.done,
                "late": round(r.late, 6),
                "aborted": r.aborted,
            }
            for r in self.records
        ]
        return web.json_response(
            {
                "requests": len(self.records),
                "streams": sum(1 for r in self.records if r.stream),
                "open_streams": self.open_streams,
                "most_open_streams": self.most_open,
                "cpu_seconds": time.process_time(),
                "config": self.config(),
                "records": records,
            }
        )

    async def stats_reset(self, request: web.Request) -> web.Response:
        self.reset()
        return web.json_response({"ok": True})

    def config(self) -> dict:
        return {
            "ttft": self.ttft,
            "latency": self.latency,
            "tokens_per_second": self.tokens_per_second,
            "chars_per_token": self.chars_per_token,
        }

    async def configure(self, request: web.Request) -> web.Response:
        """``POST /config`` ``{"ttft"?, "latency"? (null: by tokens_per_second), "tokens_per_second"?,
        "chars_per_token"?}``: the timing of the requests that arrive from now on."""
        try:
            body = await request.json()
            ttft = float(body.get("ttft", self.ttft))
            latency = body.get("latency", self.latency)
            latency = None if latency is None else float(latency)
            rate = float(body.get("tokens_per_second", self.tokens_per_second))
            size = int(body.get("chars_per_token", self.chars_per_token))
            if ttft < 0 or rate <= 0 or size < 1 or (latency is not None and latency < ttft):
                raise ValueError("need ttft >= 0, latency >= ttft, tokens_per_second > 0, chars_per_token >= 1")
        except (ValueError, TypeError, AttributeError) as exc:
            return web.json_response({"error": {"message": str(exc)}}, status=400)
        self.ttft, self.latency, self.tokens_per_second, self.chars_per_token = ttft, latency, rate, size
        return web.json_response(self.config())

    async def completions(self, request: web.Request) -> web.StreamResponse:
        arrived = time.monotonic()
        try:
            body = await request.json()
            messages = body["messages"]
            if not isinstance(messages, list) or not messages:
                raise ValueError("messages must be a non-empty list")
        except (ValueError, KeyError, TypeError) as exc:
            error = {"error": {"message": f"invalid request: {exc}", "type": "invalid_request_error"}}
            return web.json_response(error, status=400)
        model = str(body.get("model") or "fake-llm")
        stream = bool(body.get("stream"))
        json_object = (body.get("response_format") or {}).get("type") == "json_object"
        record = Record(tag=tag_of(messages), stream=stream, arrived=arrived)
        if len(self.records) >= MAX_RECORDS:  # a long standalone run keeps the newest
            del self.records[: MAX_RECORDS // 2]
        self.records.append(record)
        content = reply_for(messages, json_object=json_object)
        tokens = chunks_of(content, self.chars_per_token)
        due = [arrived + offset for offset in self.schedule(len(tokens))]
        ident = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        created = int(time.time())
        usage = {"prompt_tokens": sum(len(_text(m.get("content"))) for m in messages) // 4}
        usage |= {"completion_tokens": len(tokens), "total_tokens": usage["prompt_tokens"] + len(tokens)}
        if not stream:
            await asyncio.sleep(max(0.0, due[-1] - time.monotonic()))
            record.first_token = record.done = time.monotonic()
            record.late = record.done - due[-1]
            return web.json_response(
                {
                    "id": ident,
                    "object": "chat.completion",
                    "created": created,
                    "model": model,
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": content},
                            "finish_reason": "stop",
                            "logprobs": None,
                        }
                    ],
                    "usage": usage,
                }
            )

        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache"}
        )
        self.open_streams += 1
        self.most_open = max(self.most_open, self.open_streams)
        try:
            await response.prepare(request)  # headers now; the first token after ttft, as a model does
            head = json.dumps({"id": ident, "object": "chat.completion.chunk", "created": created, "model": model})
            head = head[:-1]  # the object stays open: the choices follow
            lines = []  # encoded up front: the timed loop only sleeps and writes
            for i, piece in enumerate(tokens):
                delta = {"role": "assistant", "content": piece} if i == 0 else {"content": piece}
                choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": None}
                lines.append(f'data: {head}, "choices": [{json.dumps(choice)}]}}\n\n'.encode())
            for i, (line, when) in enumerate(zip(lines, due, strict=True)):
                wait = when - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                if i == 0:
                    record.first_token = time.monotonic()  # as it goes out
                await response.write(line)
            record.late = time.monotonic() - due[-1]
            stop = {"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}
            tail = f'data: {head}, "choices": [{json.dumps(stop)}]}}\n\n'
            if (body.get("stream_options") or {}).get("include_usage"):
                tail += f'data: {head}, "choices": [], "usage": {json.dumps(usage)}}}\n\n'
            await response.write((tail + "data: [DONE]\n\n").encode())
            await response.write_eof()
            record.done = time.monotonic()
        except ConnectionResetError:
            record.aborted = True  # the client went away mid-reply: nothing more to send
        except asyncio.CancelledError:
            record.aborted = True
            raise
        finally:
            self.open_streams -= 1
        return response


# --- running it --------------------------------------------------------------------------------


async def serve(fake: FakeLLM, host: str, port: int, *, started: threading.Event | None = None, stop=None) -> None:
    """Serve ``fake`` on ``host:port`` until ``stop`` (an asyncio.Event) is set, or forever."""
    # Many concurrent streams: a large backlog, no access log (it would cost more than a chunk).
    runner = web.AppRunner(fake.app(), access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port, backlog=4096)
    await site.start()
    try:
        if started is not None:
            started.set()
        await (stop.wait() if stop is not None else asyncio.get_running_loop().create_future())
    finally:
        await runner.cleanup()


@contextmanager
def running(fake: FakeLLM | None = None, *, host: str = "127.0.0.1", port: int = 0):
    """Serve ``fake`` from a background thread (its own event loop); yields the ``/v1`` base URL."""
    import socket

    fake = fake or FakeLLM()
    if port == 0:
        with socket.socket() as sock:
            sock.bind((host, 0))
            port = sock.getsockname()[1]
    loop = asyncio.new_event_loop()
    started = threading.Event()
    stop = asyncio.Event()
    failed: list[BaseException] = []

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(serve(fake, host, port, started=started, stop=stop))
        except BaseException as exc:  # reported to the caller below
            failed.append(exc)
            started.set()
        finally:
            loop.close()

    thread = threading.Thread(target=run, name="fake-llm", daemon=True)
    thread.start()
    started.wait(10)
    if failed or not started.is_set():
        raise RuntimeError(f"fake LLM server did not start: {failed[0] if failed else 'timeout'}")
    try:
        yield f"http://{host}:{port}/v1"
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8100)
    parser.add_argument("--ttft", type=float, default=0.5, help="seconds to the first token")
    parser.add_argument("--latency", type=float, help="seconds for the whole reply (wins over --tokens-per-second)")
    parser.add_argument("--tokens-per-second", type=float, default=30.0, help="after the first token")
    parser.add_argument("--chars-per-token", type=int, default=TOKEN_CHARS, help="characters per chunk")
    args = parser.parse_args()
    if args.latency is not None and args.latency < args.ttft:
        parser.error("--latency must be at least --ttft")
    if args.tokens_per_second <= 0 or args.chars_per_token < 1:
        parser.error("--tokens-per-second must be positive and --chars-per-token at least 1")
    fake = FakeLLM(
        ttft=args.ttft,
        latency=args.latency,
        tokens_per_second=args.tokens_per_second,
        chars_per_token=args.chars_per_token,
    )
    print(f"fake LLM on http://{args.host}:{args.port}/v1 (ttft {args.ttft:g} s)", flush=True)

    async def run() -> None:
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            asyncio.get_running_loop().add_signal_handler(sig, stop.set)
        await serve(fake, args.host, args.port, stop=stop)

    asyncio.run(run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
