"""/healthz for supervisors and load balancers, /metrics for Prometheus; both from the facade."""

from __future__ import annotations

from aiohttp import web

from web.auth import public, requires
from web.facade import WebFacade
from web.users import Role

PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"


def monitoring_routes(facade: WebFacade, *, metrics_open: bool) -> list[web.RouteDef]:
    """The routes; /metrics needs an engineer unless `metrics_open`."""

    @public
    async def healthz(request: web.Request) -> web.Response:
        # Only the status word: anyone can ask, and the rest may name devices and addresses.
        status = str(facade.health().get("status", "unknown"))
        return web.json_response({"status": status}, status=200 if status == "ok" else 503)

    async def metrics(request: web.Request) -> web.Response:
        return web.Response(text=facade.metrics(), headers={"Content-Type": PROMETHEUS_TEXT})

    guard = public if metrics_open else requires(Role.ENGINEER)
    return [web.get("/healthz", healthz), web.get("/metrics", guard(metrics))]
