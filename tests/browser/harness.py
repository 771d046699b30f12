"""What every browser test needs: a dashboard server on a free port over a data directory,
Debian's headless chromium, signing in, screenshots a person can look at, and the console kept
for a failure report."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
WAIT_MS = 60_000  # generous: waiting for something to appear, never a speed limit


def require_browser() -> None:
    if CHROMIUM.exists():
        return
    reason = f"{CHROMIUM} is missing (apt-get install chromium)"
    if os.environ.get("ITBMON_REQUIRE_BROWSER") == "1":
        pytest.fail(f"ITBMON_REQUIRE_BROWSER=1 but {reason}")
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serving(data: Path, log_path: Path) -> Iterator[str]:
    """``streamlit run dashboard.py`` on a free port over ``data``, with its embedded monitor."""
    require_browser()
    port = free_port()
    env = {**os.environ, "ITBMON_DATA_DIR": str(data)}
    log = log_path.open("w")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            "dashboard.py",
            "--server.port",
            str(port),
            "--server.address",
            "127.0.0.1",
            "--server.headless",
            "true",
            "--browser.gatherUsageStats",
            "false",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        for _ in range(600):
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if process.poll() is not None:
                    raise RuntimeError(log_path.read_text()) from None
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def reload_if_blank(
    page: Any, expected: Any, artefacts: Path, where: str, reopen: Any = None
) -> None:
    """A known defect (session note, hazard log H-15): now and then after a sign-out or a page
    switch the browser's whole page goes blank until reloaded (the Streamlit front end stops
    drawing). The test does what a nurse does, opens the app again (a new session: sign in and
    open the page again), and leaves a picture behind so the defect stays visible."""
    try:
        expected.first.wait_for(state="visible", timeout=15_000)
    except Exception:
        page.screenshot(path=str(artefacts / f"BLANK-after-{where}.png"))
        console = getattr(page, "console_lines", [])
        (artefacts / f"BLANK-after-{where}.console.txt").write_text("\n".join(console) + "\n")
        (artefacts / f"BLANK-after-{where}.html").write_text(page.content())
        page.goto("/".join(page.url.split("/")[:3]))  # the app's front door (a new session)
        if reopen is not None:
            reopen()
        expected.first.wait_for(state="visible", timeout=WAIT_MS)


def sign_in(page: Any, username: str) -> None:
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password", exact=True).fill("ward seven tea")
    page.get_by_role("button", name="Sign in").click()


@pytest.fixture
def artefacts() -> Path:
    """Where screenshots go, kept after the run so a person can look at them."""
    folder = Path(os.environ.get("ITBMON_ARTEFACT_DIR", ROOT / "test-artifacts"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def whole_page(page: Any, path: Path) -> None:
    """A screenshot of all of the page: Streamlit scrolls inside its main block, so the window
    is made as tall as that block for the picture, then put back."""
    size = page.viewport_size
    height = page.evaluate(
        "Math.max(...[...document.querySelectorAll('[data-testid=stMain], section.main')]"
        ".map(e => e.scrollHeight), window.innerHeight)"
    )
    page.set_viewport_size({"width": size["width"], "height": int(height) + 40})
    page.wait_for_timeout(500)  # re-layout at the new size
    page.screenshot(path=str(path))
    page.set_viewport_size(size)


def readme_picture(source: Path, name: str, artefacts: Path) -> None:
    """A README copy of a screenshot: 256 colours (a third of the bytes, the same pixels to
    the eye), in the artefacts as readme-NAME, and in ITBMON_README_SCREENSHOTS when set
    (``ITBMON_README_SCREENSHOTS=docs/screenshots`` refreshes the README's pictures)."""
    from PIL import Image

    with Image.open(source) as image:
        # Max-coverage keeps the few pixels that matter (the yellow LOW icon, the pink of a
        # HIGH alarm) that median cut merges away; no dithering on flat UI colours.
        small = image.convert("RGB").quantize(
            colors=256, method=Image.Quantize.MAXCOVERAGE, kmeans=3, dither=Image.Dither.NONE
        )
    targets = [artefacts / f"readme-{name}"]
    if os.environ.get("ITBMON_README_SCREENSHOTS"):
        targets.append(ROOT / os.environ["ITBMON_README_SCREENSHOTS"] / name)
    for target in targets:
        target.parent.mkdir(parents=True, exist_ok=True)
        small.save(target, optimize=True)


@contextmanager
def picture_on_failure(page: Any, path: Path) -> Iterator[None]:
    """What the browser showed when a step failed, for the person reading the failure."""
    try:
        yield
    except Exception:
        page.screenshot(path=str(path))
        raise


def keep_console(page: Any) -> Any:
    """Keep the browser console's messages on the page object, for a blank-page report."""
    page.console_lines = []
    page.on("console", lambda message: page.console_lines.append(f"{message.type}: {message.text}"))
    page.on("pageerror", lambda error: page.console_lines.append(f"pageerror: {error}"))
    return page


def launch(playwright: Any) -> Any:
    return playwright.chromium.launch(
        executable_path=str(CHROMIUM),
        args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
    )
