"""The ceiling for a page: the same framework, server and HTML, with none of our work.

Started by bench/module_page.py with the page's HTML in a file; serves it from memory.
"""

from __future__ import annotations

import os
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import HTMLResponse

PAGE = Path(os.environ["REFERENCE_PAGE_FILE"]).read_text(encoding="utf-8")
app = FastAPI()


@app.get("/page", response_class=HTMLResponse)
async def page() -> HTMLResponse:
    return HTMLResponse(PAGE)  # the same bytes our module page sends
