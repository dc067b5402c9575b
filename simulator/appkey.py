"""What handlers share with the app: the key of the `Core` in the app, and JSON responses."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web

if TYPE_CHECKING:
    from simulator.core import Core

CORE: web.AppKey[Core] = web.AppKey("core")
REQUEST_ID: web.RequestKey[str] = web.RequestKey("request_id", str)


def json(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json")
