"""Pages for people: the API docs (Swagger UI, ReDoc) and the planner's page at /app.

Every asset is served by the service itself, so the pages work on a machine with no internet
(the product runs on-premises). Swagger UI and ReDoc come from the pinned PyPI package
`fastapi-offline` (its bundled copies of swagger-ui-dist and redoc's standalone build); the
planner's page is our own template, script and stylesheet.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

HERE = Path(__file__).resolve().parent
DOCS_ASSETS = "/static/docs"
APP_ASSETS = "/static/app"
templates = Jinja2Templates(directory=HERE / "templates")

# Each page may load only what this service serves: the browser refuses anything else before it
# asks the network (ReDoc's footer links a logo on a CDN; its image handler hides it when
# refused). Swagger UI starts from an inline script; ReDoc runs its search in a blob: worker.
SAME_ORIGIN = "default-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'"
CSP = {
    "docs": f"{SAME_ORIGIN}; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'",
    "redoc": f"{SAME_ORIGIN}; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "worker-src 'self' blob:; font-src 'self' data:",
    "app": f"{SAME_ORIGIN}; script-src 'self'; style-src 'self'",
}


def docs_assets_dir() -> Path:
    """Where the pinned package keeps swagger-ui-bundle.js, swagger-ui.css, redoc.standalone.js."""
    return Path(str(files("fastapi_offline") / "static"))


def install_pages(app: FastAPI) -> None:
    """Mount the docs assets and the planner's page; the app must be built with docs_url=None."""
    app.mount(DOCS_ASSETS, StaticFiles(directory=docs_assets_dir()), name="docs-assets")
    app.mount(APP_ASSETS, StaticFiles(directory=HERE / "static"), name="app-assets")
    openapi_url = app.openapi_url or "/openapi.json"

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        page = get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{app.title}: API docs",
            swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{DOCS_ASSETS}/favicon.png",
        )
        page.headers["Content-Security-Policy"] = CSP["docs"]
        return page

    @app.get("/redoc", include_in_schema=False, response_class=HTMLResponse)
    async def redoc(request: Request) -> HTMLResponse:
        context = {
            "title": f"{app.title}: API reference",
            "openapi_url": openapi_url,
            "redoc_js": f"{DOCS_ASSETS}/redoc.standalone.js",
            "favicon": f"{DOCS_ASSETS}/favicon.png",
        }
        page = templates.TemplateResponse(request, "redoc.html", context)
        page.headers["Content-Security-Policy"] = CSP["redoc"]
        return page

    @app.get("/app", include_in_schema=False, response_class=HTMLResponse)
    async def planner_page(request: Request) -> HTMLResponse:
        settings = request.app.state.settings
        context: dict[str, Any] = {
            "assets": APP_ASSETS,
            "favicon": f"{DOCS_ASSETS}/favicon.png",
            "config": {
                "frequency": settings.frequency,
                "maxHorizon": settings.max_horizon,
                "keyRequired": bool(settings.api_keys),
            },
        }
        page = templates.TemplateResponse(request, "app.html", context)
        page.headers["Content-Security-Policy"] = CSP["app"]
        return page
