"""`make bench-webhook`: N concurrent simulated WeChat residents against the whole bot on loopback.

The bot runs as its own process exactly as deployed (`bot run`: uvicorn, the WeChat webhook in
safe mode, the scheduler, the embedded case desk), with one shared Rasa server; every request is
signed and AES-encrypted as WeChat's servers do it (wechatpy's own crypto). Beside it, on the same
machine and with the same load, a hello-world FastAPI route that only reads the body and answers
"success": the ratio is what our code (signature, decryption, NLU, dialog, database, encryption of
the reply) costs over a bare web framework.

Two loads:
- residents: each of N residents holds a report conversation, pausing a few seconds between
  messages as people on a phone do (the realistic load; p99 is the figure that matters);
- saturated: the same residents without pauses (the ceiling in messages/s).

The requests are built before the clock starts so that the load generator, which shares the
machine's two cores with the bot, spends as little as possible while measuring.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import random
import secrets
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from tempfile import TemporaryDirectory
from urllib.parse import urlencode

import httpx
import sqlalchemy
from wechatpy.crypto import WeChatCrypto  # type: ignore[import-untyped,unused-ignore]

from benchmarks.report import machine, percentile, write_section
from bot.dialogs import extract
from bot.logs import configure_logging
from bot.nlu.runtime import nlu_runtime
from bot.nlu.server import free_port
from bot.settings import PROJECT_ROOT, Settings
from bot.storage.migrate import upgrade

TOKEN = "benchwechattoken"  # WeChat allows 3-32 letters and digits
APP_ID = "wxbenchmark0000001"
AES_KEY = base64.b64encode(hashlib.sha256(b"bench").digest()).decode()[:-1]
ACCOUNT = "gh_bench"
#: The stories say neither where, when nor who (nor the resident's name): the report skips a
#: question a message already answered, and these conversations answer every question in a fixed
#: order (``check_fixed_order``).
STORIES = [
    "家里天花板漏水泡坏了，找了好几回都没人管，想登记一下",
    "装修噪音太大，电钻声吵得睡不着，想请你们调解",
    "装修把我家墙震裂了，找他们赔偿一直推脱，想请你们调解",
    "楼道里堆满了杂物，说了好几回都不搬，麻烦你们处理",
    "公共走廊里养了好几只狗，叫个不停还随地大小便，想调解",
    "空调外机正对着我家窗户，噪音大还滴水，沟通没用想调解",
]


def conversation(i: int) -> list[str]:
    """One resident's report, varied as residents vary: their own story, place, time and phone;
    the short answers (是、匿名、同意、确认) are what everybody types."""
    return [
        ["你好", "您好", "在吗", "你好，请问"][i % 4],
        STORIES[i % len(STORIES)],
        "是",
        f"幸福小区{i % 40 + 1}栋{i % 6 + 1}单元",
        ["上周开始", "这个月初", f"{i % 28 + 1}号晚上", "去年年底开始的"][i % 4],
        f"楼上{i % 30 + 1}02的住户",
        "匿名" if i % 2 else f"{'王李张刘陈杨赵黄'[i % 8]}先生",
        f"139{i:08d}",
        "同意",
        "确认",
    ]


def check_fixed_order(count: int = 1000) -> None:
    """The requests are signed before the clock starts, so each conversation is a fixed list of
    answers: it stays in step with the questions only while no message also answers a later one
    (the report fills those from it and does not ask them)."""
    later = [extract.place, extract.occurred, extract.other_party, extract.name]
    answering = {1: later, 3: later[1:], 4: later[2:], 5: later[3:]}  # story, place, time, party
    for i in range(count):
        turns = conversation(i)
        for turn, extractors in answering.items():
            for extractor in extractors:
                if extractor(turns[turn]):
                    raise SystemExit(
                        f"{turns[turn]!r} also answers a later question ({extractor.__name__}): "
                        "the report would skip it and the fixed answers fall out of step"
                    )


TURNS = len(conversation(0))
RESIDENTS = int(os.environ.get("BENCH_RESIDENTS", "200"))
#: Seconds between a reply and the resident's next message: reading it and typing a Chinese
#: answer on a phone ("residents"), or a crowd of fast typists ("busy").
PAUSES = {"residents": (5.0, 15.0), "busy": (2.0, 6.0)}
POSTGRES = os.environ.get("BOT_BENCH_POSTGRES_URL", "postgresql+psycopg://root@127.0.0.1:5432/test")
HELLO = "benchmarks.hello_app:app"


@dataclass(frozen=True, slots=True)
class Request:
    params: dict[str, str]
    body: bytes


def _signed(crypto: WeChatCrypto, openid: str, text: str, msg_id: int) -> Request:
    timestamp, nonce = str(int(time.time())), secrets.token_hex(8)
    xml = (
        f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName><FromUserName><![CDATA[{openid}]]>"
        f"</FromUserName><CreateTime>{timestamp}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
        f"<Content><![CDATA[{text}]]></Content><MsgId>{msg_id}</MsgId></xml>"
    )
    encrypted = crypto.encrypt_message(xml, nonce, timestamp)
    msg_signature = encrypted.split("<MsgSignature><![CDATA[")[1].split("]]>")[0]
    plain_signature = hashlib.sha1(
        "".join(sorted([TOKEN, timestamp, nonce])).encode(), usedforsecurity=False
    ).hexdigest()
    params = {
        "signature": plain_signature,
        "timestamp": timestamp,
        "nonce": nonce,
        "openid": openid,
        "encrypt_type": "aes",
        "msg_signature": msg_signature,
    }
    return Request(params, encrypted.encode())


def _conversations(count: int) -> list[list[Request]]:
    crypto = WeChatCrypto(TOKEN, AES_KEY, APP_ID)
    serial = random.randrange(10**15, 10**16)
    out = []
    for i in range(count):
        openid = "o" + uuid.uuid4().hex[:27]
        turns = []
        for text in conversation(i + random.randrange(10**6)):
            serial += 1
            turns.append(_signed(crypto, openid, text, serial))
        out.append(turns)
    return out


@dataclass
class Result:
    latencies: list[float]
    seconds: float
    answered: int  # passive replies
    late: int  # "success": the reply went by customer-service message
    errors: int


class KeepAlive:
    """One resident's HTTP/1.1 connection, kept open, speaking just enough HTTP for the webhook.

    httpx's pool, shared by hundreds of concurrent callers, costs more CPU than the hello-world
    server it measures; a bare connection per resident keeps the load generator out of the way.
    """

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def post(self, target: str, body: bytes) -> tuple[int, bytes]:
        if self._reader is None or self._writer is None or self._writer.is_closing():
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        head = (
            f"POST {target} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nContent-Type: text/xml\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        self._writer.write(head.encode() + body)
        await self._writer.drain()
        status_line, *headers = (await self._reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        length = next(int(h.split(":", 1)[1]) for h in headers if h.lower().startswith("content-length:"))
        return int(status_line.split()[1]), await self._reader.readexactly(length)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()


async def _drive(url: str, conversations: list[list[Request]], pause: tuple[float, float] | None) -> Result:
    host, port = url.removeprefix("http://").split(":")
    latencies: list[float] = []
    counts = {"answered": 0, "late": 0, "errors": 0}

    async def resident(turns: list[Request]) -> None:
        connection = KeepAlive(host, int(port))
        await asyncio.sleep(random.uniform(0, pause[1]) if pause else 0)  # residents arrive spread out
        try:
            for request in turns:
                target = f"/wechat?{urlencode(request.params)}"
                started = time.perf_counter()
                try:
                    status, content = await connection.post(target, request.body)
                except (OSError, asyncio.IncompleteReadError):
                    # The server closed the idle connection (keep-alive timeout): reconnect, as
                    # any client does, and send again.
                    connection.close()
                    connection = KeepAlive(host, int(port))
                    try:
                        status, content = await connection.post(target, request.body)
                    except (OSError, asyncio.IncompleteReadError, StopIteration):
                        counts["errors"] += 1
                        continue
                latencies.append((time.perf_counter() - started) * 1000)
                if status != 200:
                    counts["errors"] += 1
                elif content in (b"success", b""):
                    counts["late"] += 1
                else:
                    counts["answered"] += 1
                if pause:
                    await asyncio.sleep(random.uniform(*pause))
        finally:
            connection.close()

    started = time.perf_counter()
    await asyncio.gather(*(resident(turns) for turns in conversations))
    seconds = time.perf_counter() - started
    return Result(latencies, seconds, counts["answered"], counts["late"], counts["errors"])


@contextmanager
def _process(
    command: list[str], env: dict[str, str], health_url: str, log: Path, cwd: Path = PROJECT_ROOT
) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=cwd)
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if process.poll() is not None:
                tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
                raise RuntimeError(f"{command[0]} exited early:\n{tail}")
            try:
                if httpx.get(health_url, timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        else:
            raise RuntimeError(f"{command} did not become ready; see {log}")
        yield process
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def _bot_env(
    data_dir: Path, port: int, nlu_url: str, nlu_token: str, database_url: str | None
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOT_")}
    env.update(
        BOT_DATA_DIR=str(data_dir),
        BOT_HTTP_PORT=str(port),
        BOT_CASEDESK_PORT=str(free_port()),
        BOT_NLU_URL=nlu_url,
        BOT_NLU_TOKEN=nlu_token,
        BOT_LOG_LEVEL="WARNING",
        BOT_WECHAT_TOKEN=TOKEN,
        BOT_WECHAT_APP_ID=APP_ID,
        BOT_WECHAT_ENCODING_AES_KEY=AES_KEY,
        BOT_WECHAT_MODE="safe",
        # No AppSecret: the benchmark measures the webhook, not pushes to WeChat's servers.
        BOT_RATE_LIMIT_MESSAGES="1000",
    )
    if database_url:
        env["BOT_DATABASE_URL"] = database_url
    return env


def _row(label: str, load: str, result: Result) -> str:
    total = len(result.latencies)
    late = "—" if label == "hello world" else str(result.late)  # hello world always says "success"
    return (
        f"| {label} | {load} | {total} | {total / result.seconds:.0f} | "
        f"{percentile(result.latencies, 50):.0f} | {percentile(result.latencies, 99):.0f} | "
        f"{late} | {result.errors} |"
    )


def _measure(label: str, url: str) -> tuple[list[str], dict[str, Result]]:
    results = {}
    rows = []
    loads: list[tuple[str, tuple[float, float] | None]] = [*PAUSES.items(), ("saturated", None)]
    for load, pause in loads:
        if os.environ.get("BENCH_LOAD", load) != load:
            continue
        conversations = _conversations(RESIDENTS)
        results[load] = asyncio.run(_drive(url, conversations, pause))
        rows.append(_row(label, load, results[load]))
        print(rows[-1], flush=True)
    return rows, results


def _p99(result: Result) -> float:
    return percentile(result.latencies, 99)


def _rate(result: Result) -> float:
    return len(result.latencies) / result.seconds


def _postgres_available() -> bool:
    try:
        engine = sqlalchemy.create_engine(POSTGRES)
        with engine.begin() as connection:
            connection.execute(sqlalchemy.text("DROP SCHEMA public CASCADE"))
            connection.execute(sqlalchemy.text("CREATE SCHEMA public"))
        engine.dispose()
    except Exception:  # any failure: no PostgreSQL to measure
        return False
    return True


async def _with_nlu(settings: Settings, body: list[str]) -> None:
    """One Rasa server for every run (loading a model takes a minute)."""
    async with nlu_runtime(settings, start_if_unreachable=True) as nlu:
        if not nlu.managed:
            raise SystemExit("unset BOT_NLU_URL: the benchmark starts its own Rasa server")
        await asyncio.to_thread(_all_runs, nlu.managed[0].url, nlu.managed[0].token, body)


def _all_runs(nlu_url: str, nlu_token: str, body: list[str]) -> None:
    rows: list[str] = []
    figures: dict[str, dict[str, Result]] = {}
    with TemporaryDirectory() as tmp:
        port = free_port()
        hello_log = Path(tmp) / "hello.log"
        command = [sys.executable, "-m", "uvicorn", HELLO, "--port", str(port), "--log-level", "warning"]
        with _process(command, dict(os.environ), f"http://127.0.0.1:{port}/healthz", hello_log):
            new_rows, figures["hello"] = _measure("hello world", f"http://127.0.0.1:{port}")
            rows += new_rows
        for label, database_url in (("bot, SQLite", None), ("bot, PostgreSQL", POSTGRES)):
            if os.environ.get("BENCH_DATABASE", label) not in label:  # e.g. BENCH_DATABASE=SQLite
                continue
            if database_url and not _postgres_available():
                continue
            port = free_port()
            data_dir = Path(tmp) / label.replace(", ", "-")
            env = _bot_env(data_dir, port, nlu_url, nlu_token, database_url)
            if database_url:  # as in a deployment: `bot db upgrade` before the first start
                upgrade(Settings(database_url=database_url, data_dir=data_dir))
            bot = [str(Path(sys.executable).parent / "bot"), "run"]
            with _process(bot, env, f"http://127.0.0.1:{port}/readyz", Path(tmp) / f"{port}.log"):
                new_rows, figures[label] = _measure(label, f"http://127.0.0.1:{port}")
                rows += new_rows
    hello = figures["hello"]
    ratios = []
    for label, result in figures.items():
        if label != "hello" and len(result) == len(hello) == 3:  # every load measured
            p99, base_p99 = _p99(result["residents"]), _p99(hello["residents"])
            rate, base_rate = _rate(result["saturated"]), _rate(hello["saturated"])
            ratios.append(
                f"- {label}: with residents pausing, p99 {p99:.0f} ms vs {base_p99:.0f} ms for hello world "
                f"(×{p99 / max(base_p99, 0.1):.0f}); saturated, {rate:.0f} vs {base_rate:.0f} messages/s "
                f"(hello world ×{base_rate / max(rate, 0.1):.0f})"
            )
    body += [
        f"Machine: {machine()}. {RESIDENTS} simulated WeChat residents, each holding a report conversation "
        f"of {TURNS} messages (own story, place, time and phone each) (signed and AES-encrypted as WeChat sends them, safe mode), "
        f"against `bot run` on loopback (one uvicorn process, one Rasa server, the embedded case desk, "
        f"the scheduler running). Pause between a reply and the resident's next message: *residents* "
        f"{PAUSES['residents'][0]:.0f}–{PAUSES['residents'][1]:.0f} s (reading, typing Chinese on a phone), "
        f"*busy* {PAUSES['busy'][0]:.0f}–{PAUSES['busy'][1]:.0f} s, *saturated* none. *late*: turns over "
        "the 4 s passive-reply budget, answered `success` and sent by customer-service message.",
        "",
        "| server | load | messages | messages/s | p50 ms | p99 ms | late | errors |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
        *rows,
        "",
        *ratios,
    ]


def main() -> None:
    configure_logging("WARNING")
    check_fixed_order()
    body: list[str] = []
    asyncio.run(_with_nlu(Settings(), body))
    text = "\n".join(body)
    print(text)
    write_section(PROJECT_ROOT / "docs" / "performance.md", "bench-webhook", text)


if __name__ == "__main__":
    main()
