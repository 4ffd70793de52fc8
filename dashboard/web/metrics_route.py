"""``/metrics`` (Prometheus text format) for loopback and the addresses in ``DASHBOARD_METRICS_ALLOW`` (comma-
separated addresses or networks) only. A request that came through a proxy (``X-Forwarded-For``) must be allowed
on both counts, the proxy and the caller it names; nginx (deploy/) does not pass ``/metrics`` on at all."""
from __future__ import annotations

import ipaddress
import os

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from dashboard import metrics


def _networks() -> list:
    networks = []
    for part in os.environ.get("DASHBOARD_METRICS_ALLOW", "").split(","):
        if part.strip():
            networks.append(ipaddress.ip_network(part.strip(), strict=False))
    return networks


def allowed_address(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return False
    return ip.is_loopback or any(ip in network for network in _networks())


def allowed(request: Request) -> bool:
    addresses = [request.client.host if request.client else ""]
    forwarded = request.headers.get("x-forwarded-for")
    if forwarded is not None:
        addresses.append(forwarded.split(",")[0])
    return all(allowed_address(address) for address in addresses)


async def metrics_page(request: Request) -> Response:
    if not allowed(request):
        return PlainTextResponse("403 Forbidden\n", status_code=403)
    body = await run_in_threadpool(generate_latest, metrics.REGISTRY)  # the database figures are read here
    return Response(body, media_type=CONTENT_TYPE_LATEST)


def routes() -> list[Route]:
    return [Route("/metrics", metrics_page, methods=["GET"])]
