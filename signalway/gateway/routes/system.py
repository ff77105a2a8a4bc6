"""`/healthz`, `/readyz`, `/metrics`, `/openapi.json`, the API reference at `/docs`, and `/`.

`/docs` is Swagger UI over `/openapi.json`, served from the `swagger-ui-bundle-v2` package's
files: every asset is same-origin, nothing comes from a CDN, and its validator (which would
call a public service) is off.
"""

from __future__ import annotations

import asyncio
from html import escape
from pathlib import Path
from string import Template

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response

# No type information in the package (it is a folder of Swagger UI's files and one path).
from swagger_ui_bundle import swagger_ui_path  # type: ignore[import-untyped]

from signalway._version import __version__
from signalway.gateway import openapi
from signalway.gateway.deps import services
from signalway.gateway.errors import NotFound, Problem
from signalway.gateway.routes._negotiate import prefers_html
from signalway.gateway.routing import ApiRoute, Operation, Param
from signalway.gateway.schemas import Health


async def healthz(request: Request) -> Response:
    return JSONResponse(Health(status="ok").model_dump())


async def readyz(request: Request) -> Response:
    """Ready when both Temporal and Redis answer; 503 naming the one that does not."""
    svc = services(request)

    async def check(name: str, probe: asyncio.Future[object] | object) -> tuple[str, str]:
        try:
            await asyncio.wait_for(probe, timeout=3)  # type: ignore[arg-type]
            return name, "ok"
        except (Problem, TimeoutError, OSError, RuntimeError) as exc:
            return name, f"unavailable: {exc}"

    results = dict(await asyncio.gather(
        check("temporal", svc.temporal.count("WorkflowType = '__signalway_readyz__'")),
        check("redis", svc.redis.ping()),
    ))
    ready = all(v == "ok" for v in results.values())
    body = Health(status="ok" if ready else "unavailable", checks=results).model_dump()
    if ready:
        return JSONResponse(body)
    retry = svc.settings.retry_after_seconds
    body["retry_after_seconds"] = retry
    return JSONResponse(body, status_code=503, headers={"Retry-After": str(retry)})


async def metrics(request: Request) -> Response:
    return Response(generate_latest(services(request).metrics.registry), media_type=CONTENT_TYPE_LATEST)


async def openapi_json(request: Request) -> Response:
    doc = openapi.build(request.app.routes, title="Signalway", version=__version__)
    return JSONResponse(doc)


# -- the API reference and the index -----------------------------------------------------------

# The asset route serves these names only: the package folder also holds a demo page that
# loads a public example API.
_SWAGGER_ASSETS = {
    "swagger-ui.css": "text/css; charset=utf-8",
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "favicon-32x32.png": "image/png",
}
_DOCS_INIT = "signalway-docs.js"
# Swagger UI reads the document's URL from the page (so this file is static and CSP-allowed by
# origin). `validatorUrl: null`: the default validator badge calls a public service.
_DOCS_INIT_JS = """window.addEventListener("load", function () {
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.getAttribute("data-openapi"),
    dom_id: "#swagger-ui",
    deepLinking: true,
    displayOperationId: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout"
  });
});
"""
_ASSET_CACHE = "public, max-age=86400"
# Swagger UI sets inline styles on its elements; everything else is this origin only.
_DOCS_CSP = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
             "connect-src 'self'; font-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'")
_PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'; base-uri 'none'"

_DOCS_PAGE = Template("""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Signalway API reference</title>
<link rel="icon" type="image/png" href="$assets/favicon-32x32.png">
<link rel="stylesheet" href="$assets/swagger-ui.css">
</head>
<body>
<div id="swagger-ui" data-openapi="$openapi"></div>
<script src="$assets/swagger-ui-bundle.js"></script>
<script src="$assets/$init"></script>
</body>
</html>
""")

_INDEX_PAGE = Template("""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>Signalway</title>
<style>
body{margin:0;font:16px/1.5 system-ui,sans-serif;color:#1d2330;background:#f3f5f8}
main{max-width:34rem;margin:0 auto;padding:1.5rem 1rem}
h1{margin:0 0 .25rem}p{color:#5a6272;margin:0 0 1rem}
ul{list-style:none;padding:0;margin:0}li{margin:.5rem 0}
a{display:block;background:#fff;border:1px solid #dde2ea;border-radius:.5rem;padding:.75rem 1rem;color:#2250b3;text-decoration:none;overflow-wrap:anywhere}
a:hover{border-color:#3d6fd8}
span{display:block;color:#5a6272;font-size:.85rem}
</style>
</head>
<body>
<main>
<h1>Signalway</h1>
<p>Version $version: durable Temporal workflows over HTTP.</p>
<ul>
$links
</ul>
</main>
</body>
</html>
""")


class IndexLinks(BaseModel):
    docs: str = Field(description="The interactive API reference.")
    openapi: str = Field(description="The OpenAPI document.")
    health: str = Field(description="Liveness: the process is up.")
    ready: str = Field(description="Readiness: Temporal and Redis are reachable.")
    metrics: str = Field(description="Prometheus metrics.")
    temporal_ui: str | None = Field(None, description="The Temporal Web UI, when SIGNALWAY_TEMPORAL_UI_URL is set.")


class Index(BaseModel):
    """What this gateway serves, and where."""

    name: str = "Signalway"
    version: str
    links: IndexLinks


def _root(request: Request) -> str:
    # Behind a proxy that mounts the gateway under a prefix, links stay inside it.
    return str(request.scope.get("root_path", "")).rstrip("/")


def _index(request: Request) -> Index:
    root = _root(request)
    return Index(version=__version__, links=IndexLinks(
        docs=f"{root}/docs", openapi=f"{root}/openapi.json", health=f"{root}/healthz", ready=f"{root}/readyz",
        metrics=f"{root}/metrics", temporal_ui=services(request).settings.temporal_ui_url))


async def index(request: Request) -> Response:
    """A small index for people (HTML) or programs (JSON, when they ask for it)."""
    found = _index(request)
    if not prefers_html(request, default=True):
        return JSONResponse(found.model_dump())
    names = {"docs": "API reference", "openapi": "OpenAPI document", "health": "Health",
             "ready": "Readiness", "metrics": "Metrics", "temporal_ui": "Temporal Web UI"}
    fields = IndexLinks.model_fields
    # The page shows a card only for a link it has: the field's "when … is set" is for readers
    # of the JSON, not of a card that is there because it is set.
    blurbs = {key: fields[key].description or "" for key in names}
    blurbs["temporal_ui"] = "Each run's history, inputs and results, in Temporal's own UI."
    links = "\n".join(
        f'<li><a href="{escape(url)}">{escape(names[key])}<span>{escape(blurbs[key])}</span></a></li>'
        for key, url in found.links.model_dump().items() if url
    )
    html = _INDEX_PAGE.substitute(version=escape(found.version), links=links)
    return HTMLResponse(html, headers={"Content-Security-Policy": _PAGE_CSP, "X-Content-Type-Options": "nosniff"})


async def docs(request: Request) -> Response:
    root = _root(request)
    html = _DOCS_PAGE.substitute(assets=escape(f"{root}/docs/assets"), openapi=escape(f"{root}/openapi.json"),
                                 init=_DOCS_INIT)
    return HTMLResponse(html, headers={"Content-Security-Policy": _DOCS_CSP, "X-Content-Type-Options": "nosniff"})


async def docs_asset(request: Request) -> Response:
    name = request.path_params["name"]
    headers = {"Cache-Control": _ASSET_CACHE, "X-Content-Type-Options": "nosniff"}
    if name == _DOCS_INIT:
        return Response(_DOCS_INIT_JS, media_type="text/javascript; charset=utf-8", headers=headers)
    if name not in _SWAGGER_ASSETS:
        raise NotFound(f"No documentation asset {name!r}.")
    return FileResponse(Path(swagger_ui_path) / name, media_type=_SWAGGER_ASSETS[name], headers=headers)


_REFERENCE = ("reference",)
_ASSET = Param("name", "path", {"type": "string", "enum": [*_SWAGGER_ASSETS, _DOCS_INIT]},
               "An asset of the API reference page.", required=True)

ROUTES = [
    ApiRoute("/healthz", healthz, method="GET", operation=Operation(
        "healthz", "Process is up", ("system",), responses={200: Health}, security=False)),
    ApiRoute("/readyz", readyz, method="GET", operation=Operation(
        "readyz", "Temporal and Redis are reachable", ("system",), responses={200: Health, 503: Health},
        security=False)),
    ApiRoute("/metrics", metrics, method="GET", operation=Operation(
        "metrics", "Prometheus metrics", ("system",), responses={200: None}, security=False,
        content_type="text/plain")),
    ApiRoute("/openapi.json", openapi_json, method="GET", operation=Operation(
        "openapi", "This OpenAPI document", ("system",), responses={200: None}, security=False)),
    # Not "system": admission control sheds these like any route, and their documents say so.
    ApiRoute("/docs", docs, method="GET", operation=Operation(
        "docs", "The interactive API reference (Swagger UI, assets served here)", _REFERENCE,
        responses={200: None}, security=False, content_type="text/html")),
    ApiRoute("/docs/assets/{name}", docs_asset, method="GET", operation=Operation(
        "docsAsset", "A static asset of the API reference", _REFERENCE, responses={200: None}, security=False,
        params=(_ASSET,), errors=(404,))),
    ApiRoute("/", index, method="GET", operation=Operation(
        "index", "Links to the API reference, health, metrics, OpenAPI and the Temporal Web UI", _REFERENCE,
        responses={200: Index}, security=False, html=True)),
]
