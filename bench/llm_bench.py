"""Benchmark: interview turns when the interviewer is a model that takes seconds per reply.

    .venv/bin/python bench/llm_bench.py [--interviews 100] [--answers 3] [--latency 2.0] [--ttft 0.5]
        [--sockets-big 1000] [--latency-big 5.0] [--processes 1,2] [--scenarios rest,sse,ws,ws1000]
        [--pool-size 20] [--chars-per-token 4] [--redis-url URL] [--db-name bench_llm] [--keep]

Serves the real ASGI app with 1 and 2 daphne processes (Redis channel layer and cache, the
production pool of DATABASE_POOL_MAX_SIZE connections per process) whose interviewer is the
``openai`` provider, pointed at ``bench/fake_llm.py``: a local OpenAI-compatible server, in its
own process, that streams a real reply in chunks after a time to first token, the whole reply
taking the configured latency. Scenarios, each with its own interviews, all clients at once:

- rest: N clients each ``POST /api/v1/interviews/start``, then answer K times with
  ``POST /api/v1/interviews/continue`` (plain JSON);
- sse: the same with ``Accept: text/event-stream`` (events ``answer_received``,
  ``question_delta``, ``question_reset``, ``result``, ``error``);
- ws: N sockets on ``/ws/interviews/<id>/`` (``bearer`` subprotocol) on interviews whose first
  question is asked, each answering K times: ``text_answer``, then wait for the ``question``
  that ends the turn before the next answer;
- ws1000: the same with 1,000 sockets and a model taking 5 s.

Printed per scenario and process count: turns/s against the ideal N / model latency, turn
latency minus model latency, the first ``question_delta`` against the model's first token (as
the fake server recorded it), errors by code, 503s, delta frames per turn, the most database
connections in use at once (pg_stat_activity, sampled every 50 ms) against the pool, and the
transcript check (gapless, nothing lost or doubled). Then the issue's targets and a verdict on
each. Exit status 1 on any error or broken transcript. The database is dropped at the end
unless ``--keep``.
"""

import argparse
import asyncio
import itertools
import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._support import (
    ROOT,
    daphne_servers,
    database_finish,
    database_recreate,
    database_url,
    django_setup,
    free_port,
    install_sigterm_as_exit,
    machine,
    percentile,
    processes_stop,
    psycopg_url,
    wait_answering,
)
from bench.rest_bench import ANSWER
from bench.ws_bench import HANDSHAKES_AT_ONCE, gaps_check, interviews_create

SCENARIOS = ("rest", "sse", "ws", "ws1000")
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
SAMPLE_EVERY = 0.05  # seconds between two pg_stat_activity samples
MAX_ANSWERS = 10  # the default plan closes after two questions per topic (12): stay below
CHARS_PER_TOKEN = 4  # about an English token: one chunk each, as OpenAI's API streams
IN_USE_STATES = ("active", "idle in transaction", "idle in transaction (aborted)")
WARMUP_LATENCY = 0.2
# The targets (issue 14).
TARGET_RATIO = 0.9
TARGET_RATIO_BIG = 0.8
TARGET_OVERHEAD_P99 = 0.5  # seconds
TARGET_FIRST_DELTA_P50 = 0.1  # seconds after the model's first token
TARGET_SIZE = (100, 2.0)  # interviews, model seconds
TARGET_SIZE_BIG = (1000, 5.0)


@dataclass(frozen=True)
class Scenario:
    name: str
    transport: str  # rest | sse | ws
    clients: int
    answers: int
    latency: float  # the model's whole reply, seconds
    ttft: float  # the model's time to first token, seconds

    @property
    def turn_timeout(self) -> float:
        """How long a client waits for one turn before counting it as an error."""
        return max(60.0, 12 * self.latency + 30)


# --- the fake model (its own process) ----------------------------------------------------------


def fake_start(ttft: float, latency: float, chars_per_token: int) -> tuple[subprocess.Popen, int]:
    port = free_port()
    proc = subprocess.Popen(
        [
            *(sys.executable, str(ROOT / "bench" / "fake_llm.py"), "--port", str(port)),
            *("--ttft", str(ttft), "--latency", str(latency), "--chars-per-token", str(chars_per_token)),
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )
    try:
        wait_answering(f"http://127.0.0.1:{port}/stats", proc, timeout=30, what="fake LLM server")
    except RuntimeError:
        processes_stop([proc])
        raise
    return proc, port


def fake_call(port: int, path: str, body: dict | None = None) -> dict:
    """GET (no body) or POST ``body`` to the fake server; its JSON answer."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", data=data, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


# --- database connections in use, sampled ------------------------------------------------------


@dataclass
class DbUse:
    most_in_use: int = 0
    most_idle_in_transaction: int = 0
    most_open: int = 0
    samples: int = 0
    total_in_use: int = 0
    failed: str = ""

    @property
    def mean_in_use(self) -> float:
        return self.total_in_use / self.samples if self.samples else 0.0


class DbSampler(threading.Thread):
    """Every ``SAMPLE_EVERY`` s, count the client connections to the benchmark database that are
    in use: state ``active`` or ``idle in transaction`` (aborted too). Its own connection goes to
    the ``postgres`` database, so it never counts itself."""

    QUERY = (
        "SELECT count(*) FILTER (WHERE state = ANY(%s)), count(*) FILTER (WHERE state LIKE 'idle in transaction%%'), "
        "count(*) FROM pg_stat_activity WHERE datname = %s AND backend_type = 'client backend'"
    )

    def __init__(self, url: str, *, limit_seconds: float):
        super().__init__(name="db-sampler", daemon=True)
        parts = urlsplit(url)
        self.server = psycopg_url(urlunsplit((parts.scheme, parts.netloc, "/postgres", "", "")))
        self.dbname = parts.path.lstrip("/")
        self.limit_seconds = limit_seconds
        self.use = DbUse()
        self.halt = threading.Event()
        self.ready = threading.Event()  # set after the first sample (or on failure)

    def run(self) -> None:
        import psycopg

        deadline = time.monotonic() + self.limit_seconds
        try:
            with psycopg.connect(self.server, autocommit=True, application_name="llm_bench_sampler") as conn:
                while not self.halt.is_set() and time.monotonic() < deadline:
                    in_use, idle_tx, opened = conn.execute(self.QUERY, [list(IN_USE_STATES), self.dbname]).fetchone()
                    use = self.use
                    use.samples += 1
                    use.total_in_use += in_use
                    use.most_in_use = max(use.most_in_use, in_use)
                    use.most_idle_in_transaction = max(use.most_idle_in_transaction, idle_tx)
                    use.most_open = max(use.most_open, opened)
                    self.ready.set()
                    self.halt.wait(SAMPLE_EVERY)
        except Exception as exc:  # reported with the figures; the run goes on
            self.use.failed = f"{type(exc).__name__}: {exc}"[:200]
        finally:
            self.ready.set()

    def stop(self) -> DbUse:
        self.halt.set()
        self.join(10)
        return self.use


def cpu_times() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs of this machine, from /proc/stat."""
    try:
        with open("/proc/stat") as stat:
            values = [int(v) for v in stat.readline().split()[1:]]
    except OSError:
        return 0, 0
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    return sum(values) - idle, sum(values)


# --- one run of a scenario ---------------------------------------------------------------------


@dataclass
class Turn:
    kind: str  # start | answer
    sent: float  # time.monotonic() when the request / frame went out
    done: float  # when the final question (or the result) arrived
    tag: str | None = None  # [bench:<tag>] in the answer: the fake model's record of this turn
    first_delta: float | None = None
    deltas: int = 0
    resets: int = 0
    # from the fake model's record of the request (same monotonic clock)
    model_arrived: float | None = None
    model_first_token: float | None = None
    model_done: float | None = None

    @property
    def latency(self) -> float:
        return self.done - self.sent


@dataclass
class Outcome:
    scenario: Scenario
    processes: int
    token: str  # the access JWT of the benchmark's employee, who owns every interview
    turns: list[Turn] = field(default_factory=list)
    problems: Counter = field(default_factory=Counter)
    first_problem: str = ""
    n503: int = 0
    wall: float = 0.0
    finished_early: int = 0
    answered: dict[str, int] = field(default_factory=dict)  # interview id -> answers stored for it
    troubled: set[str] = field(default_factory=set)  # interviews a client saw a problem on
    db: DbUse = field(default_factory=DbUse)
    pool_limit: int = 0
    transcript: str = ""
    transcript_ok: bool = True
    model_calls: int = 0
    model_most_open: int = 0
    model_late: list[float] = field(default_factory=list)
    model_aborted: int = 0
    model_cpu: float = 0.0
    bench_cpu: float = 0.0
    machine_busy: float = 0.0

    def problem(self, kind: str, text: str, *, interview_id: str | None = None, status: int | None = None) -> None:
        self.problems[kind] += 1
        self.first_problem = self.first_problem or text[:300]
        if status == 503 or "service_unavailable" in kind:
            self.n503 += 1
        if interview_id:
            self.troubled.add(interview_id)

    @property
    def errors(self) -> int:
        return sum(self.problems.values())

    @property
    def rate(self) -> float:
        return len(self.turns) / self.wall if self.wall else 0.0

    @property
    def ideal(self) -> float:
        return self.scenario.clients / self.scenario.latency

    @property
    def ratio(self) -> float:
        return self.rate / self.ideal if self.ideal else 0.0

    def p(self, values: list[float], q: float) -> float | None:
        return percentile(sorted(values), q) if values else None

    @property
    def overheads(self) -> list[float]:
        return [t.latency - self.scenario.latency for t in self.turns]

    @property
    def first_delta_vs_model(self) -> list[float]:
        """First delta minus the model's first token, for the turns the fake server recorded."""
        return [t.first_delta - t.model_first_token for t in self.turns if t.first_delta and t.model_first_token]

    @property
    def first_delta_vs_ttft(self) -> list[float]:
        """Time to first delta minus the configured time to first token (every turn with a delta)."""
        return [t.first_delta - t.sent - self.scenario.ttft for t in self.turns if t.first_delta]

    @property
    def to_model(self) -> list[float]:
        return [t.model_arrived - t.sent for t in self.turns if t.model_arrived]

    @property
    def after_model(self) -> list[float]:
        return [t.done - t.model_done for t in self.turns if t.model_done]

    @property
    def deltas_per_turn(self) -> float | None:
        streamed = self.scenario.transport != "rest"
        return sum(t.deltas for t in self.turns) / len(self.turns) if streamed and self.turns else None


def tag_for(outcome: Outcome, client: int, answer: int) -> str:
    return f"{outcome.scenario.name}-p{outcome.processes}-c{client}-a{answer}"


def envelope_code(body: bytes | dict) -> str:
    """``error_code`` of an error envelope (or a short reason why there is none)."""
    try:
        data = json.loads(body) if isinstance(body, bytes) else body
        return str(data.get("error_code") or data.get("code") or "?")
    except (ValueError, AttributeError):
        return "not JSON"


async def sse_events(response):
    """``(event, data)`` of a text/event-stream body, as the events arrive (a bounded body)."""
    event, lines = "", []
    async for raw in response.content:
        line = raw.decode("utf-8", "replace").rstrip("\r\n")
        if not line:
            if lines or event:
                text = "\n".join(lines)
                try:
                    data = json.loads(text) if text else {}
                except ValueError:
                    data = {"unparsed": text[:200]}
                yield event or (data.get("type", "message") if isinstance(data, dict) else "message"), data
            event, lines = "", []
        elif line.startswith(":"):
            continue
        else:
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "event":
                event = value
            elif name == "data":
                lines.append(value)


async def rest_turn(session, outcome: Outcome, url: str, payload: dict, turn: Turn, interview_id: str | None):
    """One start/continue call (plain or SSE); fills ``turn``; the envelope's ``data`` or None."""
    sse = outcome.scenario.transport == "sse"
    headers = {"Authorization": f"Bearer {outcome.token}", "Content-Type": "application/json"}
    if sse:
        headers["Accept"] = "text/event-stream"
    where = url.rsplit("/", 1)[-1]
    async with session.post(url, data=json.dumps(payload), headers=headers) as response:
        streamed = response.headers.get("Content-Type", "").startswith("text/event-stream")
        if response.status >= 300 or (sse and not streamed):
            body = await response.read()
            turn.done = time.monotonic()
            if response.status >= 300:
                code = envelope_code(body)
                outcome.problem(
                    f"HTTP {response.status} {code}",
                    f"{where}: HTTP {response.status}: {body[:300]!r}",
                    interview_id=interview_id,
                    status=response.status,
                )
                return None
            outcome.problem(
                "not an event stream", f"{where}: HTTP {response.status} {response.headers.get('Content-Type')}"
            )
            return json.loads(body).get("data")
        if not sse:
            body = await response.read()
            turn.done = time.monotonic()
            return json.loads(body)["data"]
        result = None
        async for event, data in sse_events(response):
            if event == "question_delta":
                turn.deltas += 1
                turn.first_delta = turn.first_delta or time.monotonic()
            elif event == "question_reset":
                turn.resets += 1
            elif event == "result":
                turn.done = time.monotonic()
                if not isinstance(data, dict) or int(data.get("code", 0)) >= 300:
                    code = int(data.get("code", 0)) if isinstance(data, dict) else 0
                    outcome.problem(
                        f"result event {code} {envelope_code(data)}",
                        f"{where}: result event {data}",
                        interview_id=interview_id,
                        status=code,
                    )
                    return None
                result = data.get("data")
            elif event == "error":
                code = int(data.get("code", 0)) if isinstance(data, dict) else 0
                outcome.problem(
                    f"error event {code} {envelope_code(data)}",
                    f"{where}: error event {data}",
                    interview_id=interview_id,
                    status=code,
                )
                return None
        if result is None:
            outcome.problem("stream ended without a result", f"{where}: stream ended without a result event")
        return result


async def rest_scenario(outcome: Outcome, base_urls: list[str]) -> None:
    import aiohttp

    scenario = outcome.scenario
    servers = itertools.cycle(base_urls)
    go = asyncio.Event()

    async def client(index: int) -> None:
        await go.wait()
        interview_id = None
        for answer in range(scenario.answers + 1):
            turn = Turn(kind="start" if answer == 0 else "answer", sent=time.monotonic(), done=0.0)
            if answer == 0:
                url, payload = (
                    f"{next(servers)}/api/v1/interviews/start",
                    {"language": "en", "technical_level": "basic"},
                )
            else:
                turn.tag = tag_for(outcome, index, answer)
                url = f"{next(servers)}/api/v1/interviews/continue"
                payload = {
                    "interview_id": interview_id,
                    "user_response": f"{ANSWER} [bench:{turn.tag}]",
                    "client_message_id": turn.tag,
                }
            try:
                data = await rest_turn(session, outcome, url, payload, turn, interview_id)
            except TimeoutError:
                outcome.problem("timeout", f"no answer within {scenario.turn_timeout:.0f} s", interview_id=interview_id)
                return
            except (aiohttp.ClientError, ValueError, KeyError, TypeError, AttributeError) as exc:
                outcome.problem(type(exc).__name__, f"{type(exc).__name__}: {exc}", interview_id=interview_id)
                return
            if data is None:
                return
            outcome.turns.append(turn)
            if answer == 0:
                interview_id = data["interview_id"]
                outcome.answered[interview_id] = 0
            else:
                outcome.answered[interview_id] += 1
            if data.get("is_final"):
                outcome.finished_early += answer < scenario.answers
                return

    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=scenario.turn_timeout)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        tasks = [asyncio.create_task(client(i)) for i in range(scenario.clients)]
        start = time.monotonic()
        go.set()
        await asyncio.gather(*tasks)
        outcome.wall = time.monotonic() - start


async def ws_scenario(outcome: Outcome, ws_urls: list[str], interview_ids: list[str]) -> None:
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed, InvalidHandshake

    scenario = outcome.scenario
    handshakes = asyncio.Semaphore(HANDSHAKES_AT_ONCE)
    opened = 0
    all_open, go = asyncio.Event(), asyncio.Event()

    async def frame(ws, deadline: float) -> dict:
        return json.loads(await asyncio.wait_for(ws.recv(), max(0.001, deadline - time.monotonic())))

    async def one(index: int, interview_id: str) -> None:
        nonlocal opened
        url = f"{ws_urls[index % len(ws_urls)]}/ws/interviews/{interview_id}/"
        ws = None
        try:
            async with handshakes:
                ws = await connect(
                    url,
                    origin="http://127.0.0.1",
                    subprotocols=["bearer", outcome.token],
                    open_timeout=scenario.turn_timeout,
                    max_size=2**22,
                )
                first = await frame(ws, time.monotonic() + scenario.turn_timeout)
                if first.get("type") != "connected":
                    raise RuntimeError(f"first frame {first}")
        except (InvalidHandshake, OSError, TimeoutError, RuntimeError, ValueError, ConnectionClosed) as exc:
            outcome.problem("connect", f"connect: {type(exc).__name__}: {exc}", interview_id=interview_id)
            if ws is not None:
                await ws.close()
            ws = None
        finally:
            opened += 1
            if opened == len(interview_ids):
                all_open.set()
        if ws is None:
            return
        outcome.answered[interview_id] = 0
        try:
            await go.wait()
            for answer in range(1, scenario.answers + 1):
                tag = tag_for(outcome, index, answer)
                turn = Turn(kind="answer", sent=time.monotonic(), done=0.0, tag=tag)
                deadline = turn.sent + scenario.turn_timeout
                await ws.send(
                    json.dumps(
                        {"type": "text_answer", "answer_text": f"{ANSWER} [bench:{tag}]", "client_message_id": tag}
                    )
                )
                turn_id = None
                final = False
                while True:
                    received = await frame(ws, deadline)
                    kind = received.get("type")
                    if kind == "answer_received" and received.get("client_message_id") in (tag, None):
                        turn_id = received.get("turn_id")
                    elif kind == "question_delta" and (turn_id is None or received.get("turn_id") == turn_id):
                        turn.deltas += 1
                        turn.first_delta = turn.first_delta or time.monotonic()
                    elif kind == "question_reset" and (turn_id is None or received.get("turn_id") == turn_id):
                        turn.resets += 1
                    elif kind == "question" and (turn_id is None or received.get("turn_id") in (turn_id, None)):
                        turn.done = time.monotonic()
                        break
                    elif kind == "interview_complete":
                        final = True
                    elif kind == "error":
                        code = received.get("code")
                        outcome.problem(f"error frame {code}", f"error frame: {received}", interview_id=interview_id)
                        return
                outcome.turns.append(turn)
                outcome.answered[interview_id] += 1
                if final:
                    outcome.finished_early += answer < scenario.answers
                    return
        except ConnectionClosed as exc:
            outcome.problem("disconnected", f"disconnected: {exc}", interview_id=interview_id)
        except TimeoutError:
            outcome.problem("timeout", f"no question within {scenario.turn_timeout:.0f} s", interview_id=interview_id)
        except (ValueError, TypeError, AttributeError) as exc:  # a frame that is not a JSON object
            outcome.problem("bad frame", f"bad frame: {type(exc).__name__}: {exc}", interview_id=interview_id)
        finally:
            await ws.close()

    tasks = [asyncio.create_task(one(i, interview_id)) for i, interview_id in enumerate(interview_ids)]
    if tasks:
        await all_open.wait()
    start = time.monotonic()
    go.set()
    await asyncio.gather(*tasks)
    outcome.wall = time.monotonic() - start


def model_records_attach(outcome: Outcome, stats: dict) -> None:
    """Relate each tagged turn to the fake model's record of its request (same monotonic clock):
    the latest request of that tag whose first token went out before the turn's first delta."""
    by_tag: dict[str, list[dict]] = defaultdict(list)
    for record in stats["records"]:
        if record["tag"]:
            by_tag[record["tag"]].append(record)
    for turn in outcome.turns:
        records = by_tag.get(turn.tag or "")
        if not records:
            continue
        ref = turn.first_delta or turn.done
        before = [r for r in records if r["first_token"] and r["first_token"] <= ref + 0.001]
        record = before[-1] if before else records[0]
        turn.model_arrived, turn.model_first_token, turn.model_done = (
            record["arrived"],
            record["first_token"],
            record["done"],
        )
    outcome.model_calls = stats["requests"]
    outcome.model_most_open = stats["most_open_streams"]
    outcome.model_late = sorted(r["late"] for r in stats["records"] if r["done"])
    outcome.model_aborted = sum(1 for r in stats["records"] if r["aborted"])


def scenario_run(outcome: Outcome, servers, fake_port: int, url: str, interview_ids: list[str]) -> None:
    """Run one scenario (its own event loop), sampling the database and the fake model's stats."""
    scenario = outcome.scenario
    fake_call(fake_port, "/config", {"ttft": scenario.ttft, "latency": scenario.latency})
    fake_call(fake_port, "/stats/reset", {})
    model_cpu = fake_call(fake_port, "/stats")["cpu_seconds"]
    limit = (scenario.answers + 1) * scenario.turn_timeout + 120
    sampler = DbSampler(url, limit_seconds=limit)
    busy0, total0 = cpu_times()
    bench_cpu = time.process_time()
    sampler.start()
    sampler.ready.wait(10)
    try:
        if scenario.transport == "ws":
            ws_urls = [f"ws://127.0.0.1:{port}" for port in servers.ports]
            asyncio.run(ws_scenario(outcome, ws_urls, interview_ids))
        else:
            asyncio.run(rest_scenario(outcome, servers.base_urls))
    finally:
        outcome.db = sampler.stop()
    busy1, total1 = cpu_times()
    outcome.machine_busy = (busy1 - busy0) / (total1 - total0) if total1 > total0 else 0.0
    outcome.bench_cpu = time.process_time() - bench_cpu
    stats = fake_call(fake_port, "/stats")
    outcome.model_cpu = stats["cpu_seconds"] - model_cpu
    model_records_attach(outcome, stats)


def transcripts_check(outcome: Outcome) -> None:
    """Every interview gapless (1..message_count); those without a client-side problem hold exactly
    the first question and two messages per answer (nothing lost, nothing doubled)."""
    from django.db import connection, connections

    ids = list(outcome.answered)
    if not ids:
        outcome.transcript, outcome.transcript_ok = "none", outcome.scenario.clients == 0
        return
    gaps = gaps_check(ids)
    with connection.cursor() as cursor:
        cursor.execute("SELECT id::text, message_count FROM interviews_interview WHERE id = ANY(%s::uuid[])", [ids])
        counts = dict(cursor.fetchall())
    miscounted = sum(
        1
        for interview_id, answers in outcome.answered.items()
        if interview_id not in outcome.troubled and counts.get(interview_id) != 1 + 2 * answers
    )
    connections.close_all()
    outcome.transcript_ok = gaps == "ok" and miscounted == 0
    outcome.transcript = "ok" if outcome.transcript_ok else f"gaps {gaps}, {miscounted} miscounted"


# --- report ------------------------------------------------------------------------------------


def ms(value: float | None, none: str = "-") -> str:
    return none if value is None else f"{value * 1000:.0f}"


def report(outcomes: list[Outcome], args, url: str) -> int:
    print()
    print(f"LLM benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {machine(url)}")
    print(
        f"model: bench/fake_llm.py (own process), OpenAI-compatible, streaming chunks of {args.chars_per_token} "
        "characters spread evenly between the first token and the end of the reply; provider chain "
        "INTERVIEWER_PROVIDERS=openai"
    )
    print(
        f"daphne process(es): {', '.join(map(str, args.processes))}, requests and sockets to each in turn; "
        f"DATABASE_POOL_MAX_SIZE={args.pool_size} per process; Redis: {args.redis_url or 'no (in-memory layer)'}"
    )
    print()
    head = (
        f"{'scenario':<8}{'proc':>5}{'clients':>8}{'K':>3}{'model s':>8}{'ttft':>5} | {'turns':>6}{'turns/s':>8}"
        f"{'ideal':>7}{'ratio':>6} | {'over p50':>8}{'p99 ms':>7} | {'1stΔ p50':>8}{'p99 ms':>7} | "
        f"{'Δ/turn':>6} | {'errors':>6}{'503':>4} | {'db max':>6}{'limit':>6} | transcript"
    )
    print(head)
    print("-" * len(head))
    failed = False
    for o in outcomes:
        s = o.scenario
        vs_model = o.first_delta_vs_model
        per_turn = o.deltas_per_turn
        print(
            f"{s.name:<8}{o.processes:>5}{s.clients:>8}{s.answers:>3}{s.latency:>8g}{s.ttft:>5g} | {len(o.turns):>6}"
            f"{o.rate:>8.1f}{o.ideal:>7.1f}{o.ratio:>6.2f} | {ms(o.p(o.overheads, 50)):>8}"
            f"{ms(o.p(o.overheads, 99)):>7} | {ms(o.p(vs_model, 50)):>8}{ms(o.p(vs_model, 99)):>7} | "
            f"{'-' if per_turn is None else f'{per_turn:.1f}':>6} | {o.errors:>6}{o.n503:>4} | "
            f"{o.db.most_in_use:>6}{o.pool_limit:>6} | {o.transcript}"
        )
        failed = failed or o.errors > 0 or not o.transcript_ok
    for o in outcomes:
        label = f"{o.scenario.name} x{o.processes}"
        if o.problems:
            kinds = ", ".join(f"{n} {kind}" for kind, n in o.problems.most_common())
            print(f"  {label}: {kinds}; first: {o.first_problem}")
        if o.finished_early:
            print(f"  {label}: {o.finished_early} interview(s) ended before K answers (is_final)")
        if o.db.failed:
            print(f"  {label}: database sampling failed: {o.db.failed}")
        if o.model_aborted:
            print(f"  {label}: {o.model_aborted} model stream(s) closed by the service before the end")
    print()
    head = (
        f"{'scenario':<8}{'proc':>5} | {'TTFD-ttft p50':>13}{'p99 ms':>7} | {'to model p50':>12}{'p99 ms':>7} | "
        f"{'after model p50':>15}{'p99 ms':>7} | {'resets':>6} | {'calls':>6}{'streams':>8}{'late p99':>9} | "
        f"{'db mean':>7}{'idle-tx':>8}{'open':>5} | {'CPU busy':>8}{'model s':>8}{'bench s':>8}"
    )
    print(head)
    print("-" * len(head))
    for o in outcomes:
        ttfd = o.first_delta_vs_ttft
        late = o.p(o.model_late, 99)
        print(
            f"{o.scenario.name:<8}{o.processes:>5} | {ms(o.p(ttfd, 50)):>13}{ms(o.p(ttfd, 99)):>7} | "
            f"{ms(o.p(o.to_model, 50)):>12}{ms(o.p(o.to_model, 99)):>7} | "
            f"{ms(o.p(o.after_model, 50)):>15}{ms(o.p(o.after_model, 99)):>7} | "
            f"{sum(t.resets for t in o.turns):>6} | {o.model_calls:>6}{o.model_most_open:>8}{ms(late):>9} | "
            f"{o.db.mean_in_use:>7.1f}{o.db.most_idle_in_transaction:>8}{o.db.most_open:>5} | "
            f"{o.machine_busy:>8.0%}{o.model_cpu:>8.1f}{o.bench_cpu:>8.1f}"
        )
    print()
    print(
        "turns: completed turns (REST: start + K continues per client; WebSocket: K answers per socket); "
        "turns/s over the scenario's wall time; ideal = clients / model latency; ratio = turns/s / ideal"
    )
    print("over = turn latency (request or text_answer sent -> result or final question) - the model's latency")
    print(
        "1stΔ = first question_delta received - the model's first token as the fake server recorded it "
        "(time.monotonic, one clock for every process; answers only: a start carries no tag to match)"
    )
    print("TTFD-ttft = time to first question_delta - the configured time to first token (every turn with a delta)")
    print(
        "to model = request/frame sent -> the model request arrived; after model = the model's last chunk -> "
        "result/question received; late = how far the fake model's last chunk was behind its schedule"
    )
    print(
        "calls = model requests; streams = most model streams open at once; resets = question_reset received; "
        "Δ/turn = question_delta frames/events per turn"
    )
    print(
        f"db max / mean = client connections to the benchmark database with state {' or '.join(IN_USE_STATES)} "
        f"(pg_stat_activity every {SAMPLE_EVERY * 1000:.0f} ms), most at once / mean; limit = processes x pool size; "
        "idle-tx = most 'idle in transaction'; open = most connections open (any state)"
    )
    print(
        "CPU busy = whole machine over the scenario; model s / bench s = CPU seconds of the fake model / this "
        "process (clients), which share the machine with daphne"
    )
    print()
    verdicts(outcomes)
    return 1 if failed else 0


def verdicts(outcomes: list[Outcome]) -> None:
    def mark(ok: bool) -> str:
        return "met" if ok else "MISSED"

    print("targets (issue 14):")
    for o in outcomes:
        s = o.scenario
        label = f"  {s.name} x{o.processes}:"
        sized = (s.clients, s.latency) == (TARGET_SIZE_BIG if s.name == "ws1000" else TARGET_SIZE)
        note = "" if sized else f" (run at {s.clients} clients, model {s.latency:g} s)"
        parts = []
        if s.name == "ws1000":
            parts.append(
                f"throughput {o.ratio:.2f} of ideal >= {TARGET_RATIO_BIG}: {mark(o.ratio >= TARGET_RATIO_BIG)}"
            )
            parts.append(f"errors {o.errors}: {mark(o.errors == 0)}")
            parts.append(f"gapless: {mark(o.transcript_ok)}")
        else:
            p99 = o.p(o.overheads, 99)
            parts.append(f"throughput {o.ratio:.2f} of ideal >= {TARGET_RATIO}: {mark(o.ratio >= TARGET_RATIO)}")
            parts.append(f"errors {o.errors}: {mark(o.errors == 0)}")
            parts.append(f"503s {o.n503}: {mark(o.n503 == 0)}")
            ok = p99 is not None and p99 <= TARGET_OVERHEAD_P99
            parts.append(f"p99 overhead {ms(p99, 'none')} ms <= {TARGET_OVERHEAD_P99 * 1000:.0f}: {mark(ok)}")
            if s.transport != "rest":
                p50 = o.p(o.first_delta_vs_model, 50)
                ok = p50 is not None and p50 <= TARGET_FIRST_DELTA_P50
                parts.append(
                    f"first delta p50 {ms(p50, 'none')} ms after the model's first token <= "
                    f"{TARGET_FIRST_DELTA_P50 * 1000:.0f}: {mark(ok)}"
                )
        ok = o.db.samples > 0 and o.db.most_in_use <= o.pool_limit
        parts.append(f"db connections in use at most {o.db.most_in_use} <= {o.pool_limit}: {mark(ok)}")
        print(f"{label}{note} " + "; ".join(parts))


# --- the run -----------------------------------------------------------------------------------


def scenarios_of(args) -> list[Scenario]:
    out = []
    for name in args.scenarios:
        if name == "ws1000":
            out.append(Scenario(name, "ws", args.sockets_big, args.answers, args.latency_big, args.ttft_big))
        else:
            out.append(Scenario(name, name, args.interviews, args.answers, args.latency, args.ttft))
    return out


def warmup(servers, fake_port: int, url: str, ids: list[str], processes: int, token: str) -> None:
    """Unmeasured: lazy imports, pools and the model client warm up on every process."""
    for transport, name in (("rest", "warm-rest"), ("ws", "warm-ws")):
        scenario = Scenario(name, transport, 2 * processes, 1, WARMUP_LATENCY, WARMUP_LATENCY / 4)
        outcome = Outcome(scenario, processes, token)
        scenario_run(outcome, servers, fake_port, url, ids)
        if outcome.problems:
            print(f"  warm-up {transport}: {dict(outcome.problems)}; first: {outcome.first_problem}", file=sys.stderr)


def log_tail(servers, chars: int = 3000) -> str:
    """The daphne processes' output without access and info lines (the model calls log one each)."""
    lines = servers.log_tail(200_000, without_access=True).splitlines(keepends=True)
    return "".join(line for line in lines if '"level": "info"' not in line)[-chars:]


def redis_check(redis_url: str) -> None:
    import redis

    try:
        redis.Redis.from_url(redis_url, socket_connect_timeout=2).ping()
    except Exception as exc:
        raise SystemExit(f"Redis at {redis_url} does not answer ({exc}); start it or pass --redis-url ''")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ints = lambda s: [int(x) for x in s.split(",")]  # noqa: E731
    parser.add_argument("--interviews", type=int, default=100, help="clients of rest, sse and ws")
    parser.add_argument("--answers", type=int, default=3, help=f"answers per interview, K (1-{MAX_ANSWERS})")
    parser.add_argument("--latency", type=float, default=2.0, help="model seconds per reply (rest, sse, ws)")
    parser.add_argument("--ttft", type=float, default=0.5, help="model seconds to first token (rest, sse, ws)")
    parser.add_argument("--sockets-big", type=int, default=1000, help="sockets of ws1000")
    parser.add_argument("--latency-big", type=float, default=5.0, help="model seconds per reply (ws1000)")
    parser.add_argument("--ttft-big", type=float, default=0.5, help="model seconds to first token (ws1000)")
    parser.add_argument("--processes", type=ints, default=[1, 2], help="daphne process counts to run, e.g. 1,2")
    parser.add_argument("--scenarios", type=lambda s: s.split(","), default=list(SCENARIOS))
    parser.add_argument("--pool-size", type=int, default=20, help="DATABASE_POOL_MAX_SIZE per daphne process")
    parser.add_argument(
        "--chars-per-token", type=int, default=CHARS_PER_TOKEN, help="characters per streamed chunk of the model"
    )
    parser.add_argument("--db-name", default="bench_llm", help="database to create (and drop); bench* only")
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL", DEFAULT_REDIS_URL), help="'' for none")
    parser.add_argument("--keep", action="store_true", help="keep the database at the end")
    args = parser.parse_args()
    if unknown := set(args.scenarios) - set(SCENARIOS):
        parser.error(f"unknown scenario(s): {', '.join(sorted(unknown))}")
    if not 1 <= args.answers <= MAX_ANSWERS:
        parser.error(f"--answers must be 1..{MAX_ANSWERS}: the plan closes the interview after 12 questions")
    if min(args.processes) < 1 or min(args.interviews, args.sockets_big, args.chars_per_token, args.pool_size) < 1:
        parser.error("--processes, --interviews, --sockets-big, --chars-per-token and --pool-size must be at least 1")
    if not (0 <= args.ttft <= args.latency and 0 <= args.ttft_big <= args.latency_big):
        parser.error("the time to first token must be between 0 and the latency")
    if not args.redis_url and max(args.processes) > 1:
        parser.error("more than one daphne process needs Redis (--redis-url)")
    if args.redis_url:
        redis_check(args.redis_url)
    install_sigterm_as_exit()
    scenarios = scenarios_of(args)

    url = database_url(args.db_name)
    print(f"database {args.db_name}: creating, migrating…", flush=True)
    database_recreate(url)
    outcomes: list[Outcome] = []
    procs: list[subprocess.Popen] = []
    try:
        django_setup(url, redis_url=args.redis_url, pool_max=args.pool_size)
        from accounts.models import User
        from accounts.serializers import TokenObtainSerializer

        user = User.objects.create(username="bench-llm", organization_id=uuid.uuid4())
        token = str(TokenObtainSerializer.get_token(user).access_token)
        socket_ids = {
            (s.name, p): interviews_create(user.employee_id, s.clients)
            for s in scenarios
            if s.transport == "ws"
            for p in args.processes
        }
        warm_ids = {p: interviews_create(user.employee_id, 2 * p) for p in args.processes}
        from django.db import connections

        connections.close_all()
        longest = max(s.latency for s in scenarios) if scenarios else args.latency
        fake, fake_port = fake_start(args.ttft, args.latency, args.chars_per_token)
        procs.append(fake)
        model_timeout = max(30.0, 4 * longest)
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "INTERVIEWER_PROVIDERS": "openai",
            "OPENAI_BASE_URL": f"http://127.0.0.1:{fake_port}/v1",
            "OPENAI_API_KEY": "x",
            "OPENAI_MODEL": "fake-llm",
            "OPENAI_TIMEOUT_SECONDS": f"{model_timeout:g}",
            # A pending turn is taken over only when clearly abandoned: far beyond two model attempts.
            "TURN_TIMEOUT_SECONDS": f"{3 * model_timeout + 30:g}",
            "WS_RATE_LIMIT_PER_MINUTE": "1000000",
            # One employee owns every socket: lift the per-user limit and the socket cap.
            "WS_USER_RATE_LIMIT_PER_MINUTE": "10000000",
            "WS_MAX_SOCKETS_PER_USER": "100000",
        }
        print(f"fake model on port {fake_port}; OPENAI_TIMEOUT_SECONDS={model_timeout:g}", flush=True)
        for processes in args.processes:
            with daphne_servers(processes, env) as servers:
                print(
                    f"{processes} daphne process(es), ports {', '.join(map(str, servers.ports))}: warm-up…", flush=True
                )
                warmup(servers, fake_port, url, warm_ids[processes], processes, token)
                for scenario in scenarios:
                    print(
                        f"  {scenario.name:<7} {scenario.clients:>5} clients x {scenario.answers}, "
                        f"model {scenario.latency:g} s…",
                        end="",
                        flush=True,
                    )
                    outcome = Outcome(scenario, processes, token, pool_limit=processes * args.pool_size)
                    scenario_run(outcome, servers, fake_port, url, socket_ids.get((scenario.name, processes), []))
                    transcripts_check(outcome)
                    print(
                        f" {outcome.rate:.1f} turns/s ({outcome.ratio:.2f} of ideal), {outcome.errors} errors",
                        flush=True,
                    )
                    if outcome.errors:
                        print(f"daphne log (tail):\n{log_tail(servers)}", file=sys.stderr, flush=True)
                    outcomes.append(outcome)
    finally:
        processes_stop(procs)
        database_finish(url, keep=args.keep)
    order = {name: i for i, name in enumerate(SCENARIOS)}
    outcomes.sort(key=lambda o: (order[o.scenario.name], o.processes))
    return report(outcomes, args, url)


if __name__ == "__main__":
    sys.exit(main())
