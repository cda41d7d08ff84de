"""`make bench-wechat-burst`: 100 WeChat residents × 5 messages, all at once and without pauses,
against `bot run` — the burst of issue 13 — and whether the bot's own count of late replies
agrees with what the client saw.

Each request is signed and AES-encrypted when it is sent, as WeChat's servers do (safe mode), on
one kept-alive connection per resident. The client notes its clock when it writes each request;
the bot answers with ``Server-Timing: arrival;desc=<its clock when the first bytes were read>,
total;dur=<ms to the answer>`` (bot/timing.py), so per request the time is split into *before
arrival* (the kernel's accept queue and socket buffer, the loop not reading) and *in the bot*.
Around each round the bot's ``/metrics`` are read (late replies, queueing, loop lag, turns, NLU)
with the benchmark's probes (benchmarks/probed_bot.py: waits for the database connection and how
long it is held), the CPU seconds of the bot, its Rasa server, its case desk and the client are
read from /proc, and the listening socket's accept queue is sampled.

Before each round the load average must be under ``BENCH_MAX_LOAD`` (1.5 on 2 cores): the
benchmark waits for it (up to ``BENCH_LOAD_WAIT`` seconds) and reports the load it started at.

Knobs: ``BENCH_RESIDENTS`` (``50,100``: a round of each size, in turn), ``BENCH_MESSAGES`` (5), ``BENCH_ROUNDS`` (3),
``BENCH_WARMUP`` (20: residents of an unmeasured burst first), ``BENCH_DATABASE`` (SQLite, PostgreSQL when ``BOT_BENCH_POSTGRES_URL`` answers; e.g.
``BENCH_DATABASE=SQLite``), ``BENCH_PROBE=0`` (plain `bot run`), ``BENCH_PROFILE=FILE`` (cProfile
of the bot's event loop), ``BENCH_WRITE=0`` (do not rewrite docs/performance.md), ``BENCH_BOT_ROOT=DIR`` (run the bot
from another checkout of the repository, for a before/after; -m benchmarks.probed_bot must
exist there, or BENCH_PROBE=0).
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import resource
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from tempfile import TemporaryDirectory
from urllib.parse import urlencode

import httpx
from prometheus_client.parser import text_string_to_metric_families
from wechatpy.crypto import WeChatCrypto  # type: ignore[import-untyped,unused-ignore]

from benchmarks.bench_webhook import (
    AES_KEY,
    APP_ID,
    POSTGRES,
    TOKEN,
    _bot_env,
    _postgres_available,
    _process,
    _signed,
    check_fixed_order,
    conversation,
)
from benchmarks.report import machine, percentile, write_section
from bot.logs import configure_logging
from bot.nlu.runtime import nlu_runtime
from bot.nlu.server import free_port
from bot.settings import PROJECT_ROOT, Settings
from bot.storage.migrate import upgrade

RESIDENTS = [int(n) for n in os.environ.get("BENCH_RESIDENTS", "50,100").split(",")]
MESSAGES = int(os.environ.get("BENCH_MESSAGES", "5"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
#: Residents of an unmeasured first burst: Rasa's first parses and the bot's first requests are
#: slow (graph tracing, imports, caches), as they are once after any restart.
WARMUP = int(os.environ.get("BENCH_WARMUP", "20"))
MAX_LOAD = float(os.environ.get("BENCH_MAX_LOAD", "1.5"))
LOAD_WAIT = float(os.environ.get("BENCH_LOAD_WAIT", "900"))
PROBE = os.environ.get("BENCH_PROBE", "1") != "0"
BUDGET = Settings.model_fields["wechat_reply_budget"].default  # the bot's default: 4 s
WECHAT_WAITS = 5.0  # WeChat drops the request and retries after 5 s
TICK = os.sysconf("SC_CLK_TCK")


# --- the client ---


@dataclass(frozen=True, slots=True)
class Sample:
    resident: int
    index: int  # the message's place in the resident's conversation (0: the first)
    sent_wall: float  # client clock when the request was written
    latency: float  # seconds, write → whole answer read
    status: int
    passive: bool  # a passive reply (not "success")
    arrival_wall: float | None  # the bot's clock when it read the first bytes
    server_total: float | None  # seconds, arrival → the bot's answer

    @property
    def before_arrival(self) -> float | None:
        return None if self.arrival_wall is None else max(self.arrival_wall - self.sent_wall, 0.0)


_TIMING = re.compile(r'arrival;desc="(?P<arrival>[\d.]+)",\s*total;dur=(?P<total>[\d.]+)')


class Connection:
    """One resident's HTTP/1.1 connection, kept open: just enough HTTP for the webhook (the
    load generator shares the machine with the bot and must stay out of its way)."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def _open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self._reader is None or self._writer is None or self._writer.is_closing():
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        return self._reader, self._writer

    async def post(self, target: str, body: bytes) -> tuple[int, dict[str, str], bytes, float]:
        """Status, headers, body, and the client's wall clock when the request was written."""
        reader, writer = await self._open()
        head = (
            f"POST {target} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nContent-Type: text/xml\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        sent = time.time()
        writer.write(head.encode() + body)
        await writer.drain()
        status_line, *lines = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in lines if h)}
        content = await reader.readexactly(int(headers.get("content-length", "0")))
        return int(status_line.split()[1]), headers, content, sent

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()


async def _burst(url: str, residents: int) -> tuple[list[Sample], float, int]:
    """Every resident connects and sends its messages back to back, all at once."""
    host, port = url.removeprefix("http://").split(":")
    crypto = WeChatCrypto(TOKEN, AES_KEY, APP_ID)
    samples: list[Sample] = []
    errors = 0
    serial = random.randrange(10**15, 10**16)

    async def resident(number: int) -> None:
        nonlocal serial, errors
        openid = "o" + uuid.uuid4().hex[:27]
        texts = conversation(number + random.randrange(10**6))[:MESSAGES]
        connection = Connection(host, int(port))
        try:
            for index, text in enumerate(texts):
                serial += 1
                request = _signed(crypto, openid, text, serial)  # signed now, as WeChat does
                target = f"/wechat?{urlencode(request.params)}"
                started = time.perf_counter()
                try:
                    status, headers, content, sent = await connection.post(target, request.body)
                except (OSError, asyncio.IncompleteReadError, ValueError):
                    errors += 1
                    connection.close()
                    connection = Connection(host, int(port))
                    continue
                latency = time.perf_counter() - started
                timing = _TIMING.search(headers.get("server-timing", ""))
                samples.append(
                    Sample(
                        resident=number,
                        index=index,
                        sent_wall=sent,
                        latency=latency,
                        status=status,
                        passive=status == 200 and content not in (b"success", b""),
                        arrival_wall=float(timing["arrival"]) if timing else None,
                        server_total=float(timing["total"]) / 1000 if timing else None,
                    )
                )
                if status != 200:
                    errors += 1
        finally:
            connection.close()

    started = time.perf_counter()
    await asyncio.gather(*(resident(i) for i in range(residents)))
    return samples, time.perf_counter() - started, errors


# --- what the machine and the bot say ---


def _load() -> float:
    return os.getloadavg()[0]


def _wait_for_quiet() -> tuple[float, float]:
    """Wait (up to LOAD_WAIT) for the 1-minute load to fall under MAX_LOAD; (load, seconds waited)."""
    started = time.monotonic()
    while _load() > MAX_LOAD and time.monotonic() - started < LOAD_WAIT:
        time.sleep(10)
    return _load(), time.monotonic() - started


def _cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _rasa_pids() -> list[int]:
    return [
        pid
        for pid in _children(os.getpid())
        if b"rasa" in Path(f"/proc/{pid}/cmdline").read_bytes()  # the managed Rasa server
    ]


@dataclass
class Cpu:
    bot: float
    desk: float
    rasa: float
    client: float

    @classmethod
    def read(cls, bot_pid: int) -> Cpu:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return cls(
            bot=_cpu_seconds(bot_pid),
            desk=sum(_cpu_seconds(pid) for pid in _children(bot_pid)),
            rasa=sum(_cpu_seconds(pid) for pid in _rasa_pids()),
            client=usage.ru_utime + usage.ru_stime,
        )

    def __sub__(self, other: Cpu) -> Cpu:
        return Cpu(
            self.bot - other.bot, self.desk - other.desk, self.rasa - other.rasa, self.client - other.client
        )


def _listen_overflows() -> int:
    lines = Path("/proc/net/netstat").read_text().splitlines()
    for names, values in zip(lines[::2], lines[1::2], strict=False):
        if names.startswith("TcpExt:"):
            table = dict(zip(names.split()[1:], values.split()[1:], strict=False))
            return int(table.get("ListenOverflows", 0)) + int(table.get("ListenDrops", 0))
    return 0


class AcceptQueue:
    """Samples the listening socket's accept queue (connections the kernel accepted that the bot
    has not yet taken: /proc/net/tcp's rx_queue of a LISTEN socket) every 10 ms."""

    def __init__(self, port: int) -> None:
        self.local = f":{port:04X}"
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.01):
            for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
                fields = line.split()
                if fields[1].endswith(self.local) and fields[3] == "0A":
                    self.peak = max(self.peak, int(fields[4].split(":")[1], 16))

    def __enter__(self) -> AcceptQueue:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


Metrics = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def _scrape(url: str) -> Metrics:
    text = httpx.get(f"{url}/metrics", timeout=30).text
    out: Metrics = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def _delta(after: Metrics, before: Metrics) -> Metrics:
    return {key: value - before.get(key, 0.0) for key, value in after.items()}


def _value(metrics: Metrics, name: str, **labels: str) -> float:
    wanted = set(labels.items())
    return sum(v for (n, ls), v in metrics.items() if n == name and wanted <= set(ls))


@dataclass(frozen=True, slots=True)
class Histogram:
    count: float
    total: float
    buckets: list[tuple[float, float]]  # (upper bound, cumulative count)

    @classmethod
    def of(cls, metrics: Metrics, name: str, **labels: str) -> Histogram:
        wanted = set(labels.items())
        bounds: dict[float, float] = {}
        for (n, ls), value in metrics.items():
            if n == f"{name}_bucket" and wanted <= set(ls):
                le = float(dict(ls)["le"])
                bounds[le] = bounds.get(le, 0.0) + value
        return cls(
            count=_value(metrics, f"{name}_count", **labels),
            total=_value(metrics, f"{name}_sum", **labels),
            buckets=sorted(bounds.items()),
        )

    @property
    def mean(self) -> float:
        return self.total / self.count if self.count else 0.0

    def quantile(self, q: float) -> float:
        """The upper bound of the bucket holding the q-quantile (inf past the last bound)."""
        for bound, cumulative in self.buckets:
            if self.count and cumulative >= q * self.count:
                return bound
        return 0.0


# --- one round ---


@dataclass
class Round:
    label: str
    load: float
    waited: float
    samples: list[Sample]
    seconds: float
    errors: int
    metrics: Metrics
    cpu: Cpu
    accept_peak: int
    overflows: int
    load_after: float = field(default=0.0)

    def latencies(self) -> list[float]:
        return [s.latency for s in self.samples]

    def q(self, quantile: float) -> float:
        return percentile(self.latencies(), quantile)

    @property
    def past_wechat(self) -> int:
        return sum(s.latency > WECHAT_WAITS for s in self.samples)

    @property
    def client_late(self) -> int:
        """Replies the resident did not get passively within the budget: the late path, and passive
        replies slower than the budget as the client measured them."""
        return sum((not s.passive) or s.latency > BUDGET for s in self.samples if s.status == 200)

    @property
    def client_pushed(self) -> int:
        return sum(not s.passive for s in self.samples if s.status == 200)

    @property
    def missed(self) -> int:
        """Passive replies past WeChat's 5 s at the client that the bot, by its own arrival stamp,
        did not count late: they waited longer than the margin before the bot saw them."""
        return sum(
            s.passive and s.latency > WECHAT_WAITS and (s.server_total or 0.0) <= BUDGET for s in self.samples
        )

    def bot_late(self, how: str | None = None) -> int:
        labels = {"how": how} if how else {}
        return round(_value(self.metrics, "bot_wechat_late_replies_total", **labels))

    def waits(self) -> list[float]:
        return [w for s in self.samples if (w := s.before_arrival) is not None]

    def first_waits(self) -> list[float]:
        return [w for s in self.samples if s.index == 0 and (w := s.before_arrival) is not None]


def _settle(url: str) -> None:
    """Wait until the late turns still running in the bot have ended (their counters stop)."""
    previous = -1.0
    for _ in range(120):
        now = _value(_scrape(url), "bot_turn_seconds_count")
        if now == previous:
            return
        previous = now
        time.sleep(1.0)


def _round(label: str, url: str, port: int, bot_pid: int, residents: int) -> Round:
    load, waited = _wait_for_quiet()
    before, cpu_before, overflows = _scrape(url), Cpu.read(bot_pid), _listen_overflows()
    with AcceptQueue(port) as queue:
        samples, seconds, errors = asyncio.run(_burst(url, residents))
    # Read at the burst's end, so that rates are over its wall time: every late reply is counted
    # by then (when its `success` leaves), though late turns may still be running.
    result = Round(
        label=label,
        load=load,
        waited=waited,
        samples=samples,
        seconds=seconds,
        errors=errors,
        metrics=_delta(_scrape(url), before),
        cpu=Cpu.read(bot_pid) - cpu_before,
        accept_peak=queue.peak,
        overflows=_listen_overflows() - overflows,
        load_after=_load(),
    )
    _settle(url)
    print(_client_row(result), flush=True)
    return result


# --- the report ---


def _client_row(r: Round) -> str:
    agree = "yes" if r.bot_late("pushed") == r.client_pushed and r.missed == 0 else "**no**"
    return (
        f"| {r.label} | {r.load:.2f} | {len(r.samples)} | {len(r.samples) / r.seconds:.0f} | "
        f"{r.q(50) * 1000:.0f} | {r.q(95) * 1000:.0f} | {r.q(99) * 1000:.0f} | {max(r.latencies()) * 1000:.0f} | "
        f"{r.past_wechat} | {r.client_late} ({r.client_pushed}) | "
        f"{r.bot_late()} ({r.bot_late('pushed')} + {r.bot_late('passive')}) | {agree} | {r.errors} |"
    )


def _ms(value: float) -> str:
    return f"{value * 1000:.0f}"


def _where_row(r: Round) -> str:
    m = r.metrics
    waits, first = r.waits(), r.first_waits()
    queue = Histogram.of(m, "bot_wechat_queue_seconds")
    start = Histogram.of(m, "bot_request_start_seconds")
    lag = Histogram.of(m, "bot_event_loop_lag_seconds")
    turn = Histogram.of(m, "bot_turn_seconds", channel="wechat")
    nlu = Histogram.of(m, "bot_nlu_seconds")
    http = Histogram.of(m, "bench_nlu_http_seconds")
    in_flight = Histogram.of(m, "bench_nlu_in_flight")
    db_wait = Histogram.of(m, "bench_db_wait_seconds")
    db_hold = Histogram.of(m, "bench_db_hold_seconds")
    wall = r.seconds
    db = (
        f"{_ms(db_wait.mean)} / ≤{_ms(db_wait.quantile(0.99))} | {db_hold.total / wall:.2f}"
        if db_wait.count
        else "— | —"
    )
    return (
        f"| {r.label} | {_ms(percentile(first, 50))} / {_ms(percentile(first, 99))} | "
        f"{_ms(percentile(waits, 50))} / {_ms(percentile(waits, 99))} | {r.accept_peak} ({r.overflows}) | "
        f"{_ms(start.mean)} / ≤{_ms(start.quantile(0.99))} | {_ms(queue.mean)} / ≤{_ms(queue.quantile(0.99))} | "
        f"{_ms(lag.mean)} / ≤{_ms(lag.quantile(0.99))} | {_ms(turn.mean)} / ≤{_ms(turn.quantile(0.99))} | "
        f"{nlu.count:.0f} × {_ms(nlu.mean)}"
        + (f" ({in_flight.mean:.1f} in flight)" if http.count else "")
        + f" | {db} | "
        f"{r.cpu.bot / wall:.0%} | {r.cpu.rasa / wall:.0%} | {r.cpu.desk / wall:.0%} | {r.cpu.client / wall:.0%} |"
    )


def _report(rounds: list[Round]) -> str:
    conditions = ", ".join(
        f"{r.label}: {r.load:.2f}"
        + (f" (after waiting {r.waited:.0f} s)" if r.waited >= 10 else "")
        + f" → {r.load_after:.2f}"
        for r in rounds
    )
    return "\n".join(
        [
            f"Machine: {machine()}. Simulated WeChat residents ({' and '.join(map(str, RESIDENTS))}) × "
            f"{MESSAGES} messages each (greeting, story, 是, place, time), all starting together, each sending its next message "
            "as soon as the previous answer arrived (no pauses); signed and AES-encrypted when sent "
            "(safe mode), one kept-alive connection per resident, against `bot run` on loopback (one "
            "uvicorn process, one Rasa server, the embedded case desk, the scheduler running"
            + (f"; an unmeasured burst of {WARMUP} residents first" if WARMUP else "")
            + (", the benchmark's database probes" if PROBE else "")
            + f"). Reply budget {BUDGET:.0f} s; WeChat waits {WECHAT_WAITS:.0f} s. 1-minute load "
            f"average before each round (must be under {MAX_LOAD}) → after it: {conditions}.",
            "",
            "At the client, and the bot's own count:",
            "",
            "| round | load | messages | msg/s | p50 ms | p95 ms | p99 ms | max ms | past 5 s | "
            "client late (pushed) | bot late (pushed + passive) | agree | errors |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|",
            *(_client_row(r) for r in rounds),
            "",
            "*client late*: answered `success` (the reply goes by customer-service message) or a "
            f"passive reply slower than {BUDGET:.0f} s at the client; *bot late*: "
            "`bot_wechat_late_replies_total` over the round. *agree*: the bot counted every `success` "
            "as pushed and no passive reply past 5 s at the client escaped its count.",
            "",
            "Where the time goes (mean / p99; ≤: a histogram bucket's upper bound):",
            "",
            "| round | before arrival, first message ms | before arrival, all ms | accept queue peak (overflows) | "
            "read → app ms | arrival → handler ms | loop lag ms | turn ms | NLU parses × ms | "
            "DB connection wait ms | DB connections held | CPU bot | CPU Rasa | CPU desk | CPU client |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
            *(_where_row(r) for r in rounds),
            "",
            "*before arrival*: client's write → the bot reading the first bytes (same clock); the "
            "first message of a connection includes the kernel's accept queue. *read → app*: first "
            "bytes read → the app starting on the request (the request's task waiting for the loop). "
            "*arrival → handler*: to the WeChat handler starting on the message (body read). *turn*: "
            "the engine's turn (resident's lock, NLU, transactions). *DB connections held*: checked "
            "out, on average over the round (SQLite has one: 0.98 is busy 98% of the time); *in flight*: "
            "parses already waiting for Rasa when one started. CPU: share of one core over the round.",
        ]
    )


# --- running it ---


@contextmanager
def _bot(tmp: Path, nlu_url: str, nlu_token: str, database_url: str | None) -> Iterator[tuple[str, int, int]]:
    port = free_port()
    data_dir = tmp / f"bot-{port}"
    env = _bot_env(data_dir, port, nlu_url, nlu_token, database_url)
    if database_url:
        upgrade(Settings(database_url=database_url, data_dir=data_dir))
    command = (
        [sys.executable, "-m", "benchmarks.probed_bot"]
        if PROBE
        else [str(Path(sys.executable).parent / "bot"), "run"]
    )
    root = Path(os.environ.get("BENCH_BOT_ROOT", PROJECT_ROOT))  # another checkout: a before/after
    health, log = f"http://127.0.0.1:{port}/readyz", tmp / f"bot-{port}.log"
    with _process(command, {**env, "PYTHONPATH": str(root)}, health, log, cwd=root) as process:
        yield f"http://127.0.0.1:{port}", port, process.pid


def _all_runs(nlu_url: str, nlu_token: str) -> list[Round]:
    rounds: list[Round] = []
    with TemporaryDirectory() as tmp:
        for label, database_url in (("SQLite", None), ("PostgreSQL", POSTGRES)):
            if os.environ.get("BENCH_DATABASE", label) != label:
                continue
            if database_url and not _postgres_available():
                continue
            with _bot(Path(tmp), nlu_url, nlu_token, database_url) as (url, port, pid):
                if WARMUP:
                    asyncio.run(_burst(url, WARMUP))
                    _settle(url)
                for number in range(1, ROUNDS + 1):
                    for residents in RESIDENTS:
                        rounds.append(
                            _round(f"{label}, {residents} × {MESSAGES}, #{number}", url, port, pid, residents)
                        )
    return rounds


async def _with_nlu(settings: Settings) -> list[Round]:
    async with nlu_runtime(settings, start_if_unreachable=True) as nlu:
        if not nlu.managed:
            raise SystemExit("unset BOT_NLU_URL: the benchmark starts its own Rasa server")
        return await asyncio.to_thread(_all_runs, nlu.managed[0].url, nlu.managed[0].token)


def main() -> None:
    configure_logging("WARNING")
    check_fixed_order()
    print(f"load average now {os.getloadavg()}; waiting for < {MAX_LOAD} before each round", flush=True)
    rounds = asyncio.run(_with_nlu(Settings()))
    text = _report(rounds)
    print(text)
    if os.environ.get("BENCH_WRITE", "1") != "0":
        write_section(PROJECT_ROOT / "docs" / "performance.md", "bench-wechat-burst", text)
    if any(r.missed or r.bot_late("pushed") != r.client_pushed for r in rounds):
        raise SystemExit("the bot's late count disagrees with what the client saw")


if __name__ == "__main__":
    main()
