"""What every browser test needs: a dashboard server on a port of its own over a data
directory, Debian's headless chromium, signing in, waiting for the app's runs (never for a fixed
time), screenshots a person can look at, and the console kept for a failure report."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections import Counter
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


# What ``streamlit run`` prints once it has bound its port (given as 0: the system's choice,
# so servers of tests running side by side never race for one).
LISTENING = re.compile(r"URL: (http://127\.0\.0\.1:(\d+))")


@contextmanager
def streamlit_server(arguments: list[str], env: dict[str, str], log_path: Path) -> Iterator[str]:
    """``streamlit run ARGUMENTS`` on a port of the system's choosing; its address once this
    server says it listens there."""
    require_browser()
    log = log_path.open("w")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            *arguments[:1],
            "--server.port",
            "0",
            "--server.address",
            "127.0.0.1",
            "--server.headless",
            "true",
            "--browser.gatherUsageStats",
            "false",
            *arguments[1:],
        ],
        cwd=ROOT,
        env={**env, "PYTHONUNBUFFERED": "1"},  # the address is in the log as it is printed
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        yield _listening(process, log_path)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def _listening(process: subprocess.Popen[bytes], log_path: Path) -> str:
    for _ in range(600):
        found = LISTENING.search(log_path.read_text())
        if found is not None:
            with socket.create_connection(("127.0.0.1", int(found.group(2))), timeout=5):
                return found.group(1)
        if process.poll() is not None:
            break
        time.sleep(0.1)  # the server is starting: look at its log again
    raise RuntimeError(f"streamlit did not start:\n{log_path.read_text()}")


@contextmanager
def serving(data: Path, log_path: Path) -> Iterator[str]:
    """``streamlit run dashboard.py`` over ``data``, with its embedded monitor."""
    with streamlit_server(
        ["dashboard.py"], {**os.environ, "ITBMON_DATA_DIR": str(data)}, log_path
    ) as url:
        yield url


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
    painted(page)  # laid out again at the new size
    page.screenshot(path=str(path))
    page.set_viewport_size(size)
    painted(page)


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


def painted(page: Any) -> None:
    """Until the browser has painted what the page holds now (two animation frames: the
    layout of the first is on screen by the second)."""
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")


def _finished(payload: Any) -> Any:
    """The websocket message that a script run finished, or None for any other message."""
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    if not isinstance(payload, bytes):
        return None
    message = ForwardMsg.FromString(payload)
    return message if message.WhichOneof("type") == "script_finished" else None


def _full_run_finished(payload: Any) -> bool:
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    finished = _finished(payload)
    return finished is not None and finished.script_finished == ForwardMsg.FINISHED_SUCCESSFULLY


class Runs:
    """The app's script runs as the browser receives them (its websocket's messages), so a test
    waits for the run its action asked for, never for a fixed time. A click on a page link, a
    chooser or a form asks for a full run of the app; the live parts refresh in fragment runs
    of their own, which this does not count."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.socket: Any = None
        page.on("websocket", self._opened)

    def _opened(self, socket: Any) -> None:
        self.socket = socket

    @contextmanager
    def finishing(self, timeout: float = WAIT_MS) -> Iterator[None]:
        """Around an action: on leaving, the full run it asked for has finished, nothing of
        the run before is left on the page (Streamlit marks it stale until then), and the
        browser has painted it."""
        assert self.socket is not None, "the page has not connected to the app yet"
        with self.socket.expect_event(
            "framereceived", predicate=_full_run_finished, timeout=timeout
        ):
            yield
        self.page.wait_for_function(
            "() => !document.querySelector('[data-stale=\"true\"]')", timeout=timeout
        )
        painted(self.page)

    def refreshed(self, times: int, fragments: int = 1, timeout: float = WAIT_MS) -> None:
        """Until ``fragments`` of the page's live parts have each refreshed ``times`` times from
        now (their fragment runs finished): for what must stay as it is while the page
        refreshes, and for a live part that refreshes less often than the others."""
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        assert self.socket is not None, "the page has not connected to the app yet"
        counts: Counter[str] = Counter()

        def enough(payload: Any) -> bool:
            finished = _finished(payload)
            if (
                finished is None
                or finished.script_finished != ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY
            ):
                return False
            counts.update(finished.metadata.run.fragment_ids)
            return sum(n >= times for n in counts.values()) >= fragments

        self.socket.wait_for_event("framereceived", predicate=enough, timeout=timeout)
        painted(self.page)


def launch(playwright: Any) -> Any:
    return playwright.chromium.launch(
        executable_path=str(CHROMIUM),
        args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
    )
