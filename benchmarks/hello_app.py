"""The baseline of `make bench-webhook`: a bare FastAPI app that reads a WeChat POST and answers
"success" — what any Python web service costs on this machine, before any work of ours."""

from __future__ import annotations

from fastapi import FastAPI, Request, Response

app = FastAPI()


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/wechat")
async def wechat(request: Request) -> Response:
    await request.body()
    return Response("success", media_type="text/plain")
