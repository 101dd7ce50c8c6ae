"""Request bodies are capped before a route reads them (declared or streamed)."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.testclient import TestClient

from service.api.middleware import BodySizeLimit


def app_with_limit(max_bytes: int) -> tuple[FastAPI, list[int]]:
    app = FastAPI()
    seen: list[int] = []

    @app.post("/echo")
    async def echo(request: Request) -> dict[str, int]:
        body = await request.body()
        seen.append(len(body))
        return {"bytes": len(body)}

    app.add_middleware(BodySizeLimit, max_bytes=max_bytes)
    return app, seen


def test_bodies_over_the_limit_get_413_and_never_reach_the_route() -> None:
    app, seen = app_with_limit(1024)
    client = TestClient(app)
    assert client.post("/echo", content=b"x" * 1024).json() == {"bytes": 1024}
    declared = client.post("/echo", content=b"x" * 1025)
    assert declared.status_code == 413 and declared.json() == {"detail": "request body larger than 1024 bytes"}

    def chunks():  # no Content-Length: the middleware counts what arrives
        for _ in range(8):
            yield b"y" * 512

    streamed = client.post("/echo", content=chunks())
    assert streamed.status_code == 413
    assert seen == [1024]
