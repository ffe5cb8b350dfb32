"""The workshop's browser path for real: `qlora-tutor serve`, Chromium, two learners, a token."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from bench.browser import Served, TerminalPage, launch, require_browser

pytestmark = pytest.mark.slow


def progress_of(root, learner: str) -> dict:
    path = root / learner / "progress.json"
    return json.loads(path.read_text()) if path.exists() else {}


def wait_for_progress(page: TerminalPage, root, learner: str, check, timeout: float = 60.0) -> dict:
    import time

    deadline = time.monotonic() + timeout
    while not check(progress_of(root, learner)):
        assert time.monotonic() < deadline, progress_of(root, learner)
        page.page.wait_for_timeout(100)
    return progress_of(root, learner)


def test_two_learners_in_browsers_each_get_their_own_progress(tmp_path):
    require_browser()
    from playwright.sync_api import sync_playwright

    root = tmp_path / "class"
    served = Served(root)
    try:
        with sync_playwright() as playwright:
            browser = launch(playwright)
            alice = TerminalPage(browser.new_context(viewport={"width": 1000, "height": 700}))
            alice.page.goto(f"{served.url}/?learner=alice", wait_until="commit")
            alice.wait_for_text("1 Why QLoRA")
            assert "Quantization by hand" in alice.text() and "not started" in alice.text()
            assert alice.page.url == f"{served.url}/"  # the name went into a cookie, not the address

            alice.press("Enter")  # the first lesson; its header, since home shows its title too
            alice.wait_for_text("1/10")
            alice.press("n")
            alice.wait_for_text("2/10")
            record = wait_for_progress(alice, root, "alice", lambda p: p.get("last_lesson") == "quantization")
            assert record["lessons"]["why-qlora"]["status"] in {"in progress", "done"}

            bob = TerminalPage(browser.new_context(viewport={"width": 1000, "height": 700}))
            bob.page.goto(f"{served.url}/", wait_until="commit")
            bob.page.fill("#learner", "bob")
            bob.page.click("#start")
            bob.wait_for_text("1 Why QLoRA")
            assert "in progress" not in bob.text().split("2 Quantization")[0]  # alice's lesson 1 is not bob's
            assert progress_of(root, "bob").get("lessons", {}).get("why-qlora") is None
            browser.close()
    finally:
        log = served.stop()
    assert "token" not in log.lower() and "learner=" not in log  # no query string in the server's log


def test_without_the_token_a_server_answers_403_and_starts_no_app(tmp_path):
    root = tmp_path / "class"
    served = Served(root, "--token", "room-secret-42")
    try:
        for path in ("/", "/?learner=eve", "/ws", "/static/js/textual.js", "/?token=wrong-guess"):
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(served.url + path, timeout=20)
            assert refused.value.code == 403
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
        page = opener.open(f"{served.url}/?token=room-secret-42", timeout=20)
        assert page.geturl() == f"{served.url}/" and b"Your name" in page.read()  # in, by cookie
    finally:
        served.stop()
    assert not root.exists() or not any(root.iterdir())  # nobody got a home, so no app ran
