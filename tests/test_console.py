"""The web console in a real browser: Debian's Chromium driven by Playwright, a real gunicorn.

Run by `make test-console` (which `.ci/run` calls after installing Chromium); `make test`
leaves these out, as it needs nothing installed by hand. Each test checks what it did through
the API, and that the page asked nothing of any other origin and broke no CSP rule.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright
from playwright.sync_api import Error as PlaywrightError

from receiver import Receiver
from server import GunicornServer, make_keys, request

pytestmark = [pytest.mark.browser, pytest.mark.server]


# Chromium may only resolve and reach this machine (the tests' network rule); every request
# the page makes is also checked by the route below.
LOOPBACK_ONLY = "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"


def chromium_path() -> str:
    """The system Chromium (Playwright's own download cannot work offline), or fail plainly."""
    found = (
        os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    )
    if not found:
        pytest.fail(
            "The console tests drive the system Chromium: `apt-get install chromium` "
            "(Debian), or set CHROMIUM to a Chromium binary."
        )
    return found


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[tuple[GunicornServer, dict[str, str]]]:
    """One server for the module, with a read-write and a read-only key of one owner."""
    tmp = tmp_path_factory.mktemp("console")
    db_path = tmp / "memory.db"
    keys = make_keys(db_path, {"admin": ("enterprise", "alice"), "bob": ("enterprise", "bob")})
    keys["reader"] = read_only_key(db_path, "alice")
    with GunicornServer(
        db_path, tmp / "gunicorn.log", MEMORY_API_WEBHOOK_ALLOWED_NETWORKS="127.0.0.0/8"
    ) as running:  # webhooks reach the test's receiver, on loopback
        yield running, keys


def read_only_key(db_path: Path, owner: str) -> str:
    """A read-only enterprise key of `owner` in the database at `db_path`."""
    from memory_server.api_keys import KeyStore
    from memory_server.storage.database import Database

    db = Database(db_path)
    try:
        return KeyStore(db).create("enterprise", owner, read_only=True).plaintext
    finally:
        db.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Headless Chromium, for the whole module."""
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=chromium_path(), args=[LOOPBACK_ONLY, "--no-proxy-server"]
        )
        yield launched
        launched.close()


class Watched:
    """A page, what it asked of other origins, and the CSP violations and errors it showed."""

    def __init__(self, page: Page, origin: str) -> None:
        self.page = page
        self.foreign: list[str] = []
        self.problems: list[str] = []
        self.sent: list = []  # every request the page made, in order
        page.on("request", lambda sent: self.sent.append(sent))

        def route(found) -> None:
            url = found.request.url
            if url.startswith(origin + "/") or url.startswith("data:"):
                found.continue_()
            else:  # never let it out
                self.foreign.append(url)
                found.abort()

        page.route("**/*", route)
        page.on("pageerror", lambda error: self.problems.append(f"uncaught: {error}"))
        page.on(
            "console",
            lambda message: (
                self.problems.append(message.text)
                if "Content Security Policy" in message.text or "Refused to" in message.text
                else None
            ),
        )


@pytest.fixture
def watched(browser, server) -> Iterator[Watched]:
    """A fresh tab (its own sessionStorage) on the console; checked to stay on this server."""
    running, _ = server
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    watch = Watched(page, running.url)
    page.goto(running.url + "/")
    yield watch
    context.close()
    assert watch.foreign == [], f"the page asked another origin: {watch.foreign}"
    assert watch.problems == [], watch.problems
    # The key went out only as the Authorization header: never in a URL, a body or another
    # header (a Referer, say).
    for sent in watch.sent:
        for secret in server[1].values():
            assert secret not in sent.url and secret not in (sent.post_data or "")
            others = {k: v for k, v in sent.headers.items() if k.lower() != "authorization"}
            assert secret not in str(others), (sent.url, others)


def api(server, key: str, method: str, path: str, body=None, workspace: str = "default"):
    """One API call as another client would make it: (status, JSON)."""
    running, _ = server
    headers = {"Authorization": f"Bearer {key}", "X-Workspace-ID": workspace}
    status, _, answer = request(method, running.url + path, body, headers)
    return status, answer


def create(server, key: str, text: str, metadata=None, workspace: str = "default") -> str:
    """A memory made through the API; its id."""
    status, answer = api(
        server, key, "POST", "/v1/memories", {"text": text, "metadata": metadata or {}}, workspace
    )
    assert status == 201, answer
    return answer["data"]["id"]


def sign_in(page: Page, key: str, workspace: str = "") -> None:
    """Fill the sign-in form and wait for the console."""
    page.get_by_label("API key").fill(key)
    if workspace:
        page.get_by_label(re.compile(r"^Workspace")).fill(workspace)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


def item(page: Page, memory_id: str):
    """The list entry of one memory."""
    return page.locator(f'li.memory[data-id="{memory_id}"]')


def holding(page: Page, method: str, path: str, count: int = 1) -> list:
    """Hold the first `count` `method` requests to URLs ending in `path`, until released."""
    held: list = []

    def hold(found) -> None:
        url = found.request.url.split("?")[0]
        if found.request.method == method and url.endswith(path) and len(held) < count:
            held.append(found)
        else:
            found.fallback()

    page.route("**/*", hold)
    return held


def release(held: list) -> None:
    """Let held requests go on (one the page cancelled meanwhile is simply gone)."""
    for found in held:
        with contextlib.suppress(PlaywrightError):  # aborted by the page: nothing to send
            found.continue_()


def test_the_address_leads_to_the_console_and_a_wrong_key_is_told_plainly(watched, server):
    page = watched.page
    expect(page).to_have_url(re.compile(r"/console$"))
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.get_by_label("API key").fill("msk_000000000000_not-a-real-key")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("not accepted")
    expect(page.get_by_role("button", name="Sign out")).to_be_hidden()
    assert page.evaluate("sessionStorage.length") == 0  # a refused key is not kept


def test_signed_in_the_console_shows_what_the_api_stored_newest_first(watched, server):
    _, keys = server
    older = create(server, keys["admin"], "Lunch with Maria on Thursday", {"tags": ["work"]})
    newer = create(server, keys["admin"], "The spare key is under the blue flowerpot")
    page = watched.page
    sign_in(page, keys["admin"])
    entries = page.locator("li.memory")
    expect(entries.first).to_contain_text("blue flowerpot")
    ids = entries.evaluate_all("nodes => nodes.map(n => n.dataset.id)")
    assert ids.index(newer) < ids.index(older)
    expect(item(page, older).get_by_role("list", name="Tags")).to_have_text("work")
    expect(item(page, newer).locator(".text")).to_have_text(
        "The spare key is under the blue flowerpot"
    )
    # Nothing but what the memory holds: no stray words where it has no tags or metadata.
    assert "null" not in item(page, newer).inner_text()
    assert "null" not in item(page, older).inner_text()
    # The key went nowhere but this tab: not in a cookie, not in the URL.
    assert page.context.cookies() == []
    assert keys["admin"] not in page.url
    assert page.evaluate("sessionStorage.getItem('memory-console.key')") == keys["admin"]


def test_create_from_the_console_refuses_bad_metadata_then_stores(watched, server):
    _, keys = server
    page = watched.page
    sign_in(page, keys["admin"])
    _, before = api(server, keys["admin"], "GET", "/v1/memories?per_page=100")
    page.get_by_text("New memory", exact=True).click()  # it opens the form
    form = page.get_by_role("form", name="New memory")
    form.get_by_label("Text", exact=True).fill("Renew the passport before March")
    form.get_by_label(re.compile(r"^Metadata")).fill("{not json")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#create-error")).to_contain_text("not valid JSON")
    _, unchanged = api(server, keys["admin"], "GET", "/v1/memories?per_page=100")
    assert unchanged["pagination"]["total"] == before["pagination"]["total"]

    form.get_by_label(re.compile(r"^Metadata")).fill('{"source": "console", "tags": ["admin"]}')
    page.get_by_role("button", name="Save").click()
    expect(page.locator("li.memory").first).to_contain_text("Renew the passport")
    _, after = api(server, keys["admin"], "GET", "/v1/memories?per_page=100")
    stored = [m for m in after["data"] if m["text"] == "Renew the passport before March"]
    assert len(stored) == 1
    assert stored[0]["metadata"] == {"source": "console", "tags": ["admin"]}


def test_search_shows_scores_and_the_best_match_first(watched, server):
    _, keys = server
    target = create(server, keys["admin"], "My bicycle has a flat rear tyre that needs a patch")
    create(server, keys["admin"], "Quarterly tax forms are due at the end of April")
    page = watched.page
    sign_in(page, keys["admin"])
    page.get_by_role("tab", name="Search").click()
    page.get_by_role("searchbox", name="Search").fill("repair a punctured bike wheel")
    page.get_by_label("Mode").select_option("semantic")
    page.get_by_role("button", name="Search", exact=True).click()
    first = page.get_by_role("list", name="Search results").locator("li.memory").first
    expect(first).to_have_attribute("data-id", target)
    expect(first.locator(".score")).to_have_text(re.compile(r"score 0\.\d{3}"))


def test_search_filters_reach_the_api(watched, server):
    _, keys = server
    tagged = create(server, keys["admin"], "Garden: water the tomatoes", {"tags": ["garden"]})
    create(server, keys["admin"], "Garden: water the roses", {"tags": ["flowers"]})
    page = watched.page
    sign_in(page, keys["admin"])
    page.get_by_role("tab", name="Search").click()
    page.get_by_role("searchbox", name="Search").fill("water the garden")
    page.locator("#search-form").get_by_label(re.compile(r"^Tags")).fill("garden")
    page.get_by_role("button", name="Search", exact=True).click()
    results = page.get_by_role("list", name="Search results").locator("li.memory")
    expect(results).to_have_count(1)
    expect(results.first).to_have_attribute("data-id", tagged)
    page.locator("#search-form").get_by_label(re.compile(r"^More filters")).fill("[1, 2]")
    page.get_by_role("button", name="Search", exact=True).click()
    expect(page.locator("#search-error")).to_contain_text("must be a JSON object")


def test_edit_saves_through_the_api_with_the_version_it_read(watched, server):
    _, keys = server
    memory_id = create(server, keys["admin"], "Dentist appointment on the 3rd", {"kind": "health"})
    page = watched.page
    sign_in(page, keys["admin"])
    item(page, memory_id).get_by_role("button", name="Edit").click()
    form = page.get_by_role("form", name=f"Edit memory {memory_id}")
    form.get_by_label("Text", exact=True).fill("Dentist appointment moved to the 5th")
    form.get_by_role("button", name="Save").click()
    expect(item(page, memory_id)).to_contain_text("moved to the 5th")
    expect(item(page, memory_id).get_by_role("button", name="Edit")).to_be_focused()
    status, answer = api(server, keys["admin"], "GET", f"/v1/memories/{memory_id}")
    assert status == 200
    assert answer["data"]["text"] == "Dentist appointment moved to the 5th"
    assert answer["data"]["metadata"] == {"kind": "health"}

    # Someone else changes it while it is open: the save is refused, nothing is overwritten.
    item(page, memory_id).get_by_role("button", name="Edit").click()
    form = page.get_by_role("form", name=f"Edit memory {memory_id}")
    expect(form).to_be_visible()  # it has read the version it will send as If-Match
    api(server, keys["admin"], "PUT", f"/v1/memories/{memory_id}", {"text": "Changed elsewhere"})
    form.get_by_label("Text", exact=True).fill("Stale edit")
    form.get_by_role("button", name="Save").click()
    expect(form.get_by_role("alert")).to_contain_text("changed since you opened it")
    assert api(server, keys["admin"], "GET", f"/v1/memories/{memory_id}")[1]["data"]["text"] == (
        "Changed elsewhere"
    )


def test_delete_asks_first_and_cancel_keeps_the_memory(watched, server):
    _, keys = server
    memory_id = create(server, keys["admin"], "Old wifi password: hunter2")
    page = watched.page
    sign_in(page, keys["admin"])
    item(page, memory_id).get_by_role("button", name="Delete").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Delete this memory for good?")
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
    page.get_by_role("button", name="Refresh").click()  # a request after the cancel, to wait on
    expect(item(page, memory_id)).to_be_visible()
    assert [r.method for r in watched.sent if r.method == "DELETE"] == []
    assert api(server, keys["admin"], "GET", f"/v1/memories/{memory_id}")[0] == 200

    item(page, memory_id).get_by_role("button", name="Delete").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete").click()
    expect(item(page, memory_id)).to_have_count(0)
    expect(page.get_by_role("heading", name=re.compile(r"^Memories"))).to_be_focused()
    assert api(server, keys["admin"], "GET", f"/v1/memories/{memory_id}")[0] == 404


def test_bulk_delete_removes_exactly_the_selected(watched, server):
    _, keys = server
    doomed = [create(server, keys["admin"], f"Scratch note number {n}") for n in range(3)]
    kept = create(server, keys["admin"], "Keep this one: the boiler service is in May")
    page = watched.page
    sign_in(page, keys["admin"])
    for memory_id in doomed:
        item(page, memory_id).get_by_role("checkbox").check()
    page.get_by_role("button", name="Delete selected (3)").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete").click()
    expect(page.get_by_role("status")).to_have_text("Deleted 3.")
    for memory_id in doomed:
        assert api(server, keys["admin"], "GET", f"/v1/memories/{memory_id}")[0] == 404
    assert api(server, keys["admin"], "GET", f"/v1/memories/{kept}")[0] == 200


def test_a_read_only_key_browses_and_searches_but_sees_no_write_button(watched, server):
    _, keys = server
    memory_id = create(server, keys["admin"], "Read-only keys can look at this")
    page = watched.page
    sign_in(page, keys["reader"])
    expect(page.locator("#who")).to_contain_text("read-only")
    expect(item(page, memory_id)).to_be_visible()
    expect(page.get_by_text("New memory", exact=True)).to_be_hidden()  # no form to open
    for name in ("Save", "Edit", "Delete", "Delete selected"):
        expect(page.get_by_role("button", name=name, exact=True)).to_have_count(0)
    expect(item(page, memory_id).get_by_role("checkbox")).to_have_count(0)
    item(page, memory_id).get_by_role("button", name="History").click()
    expect(item(page, memory_id).locator(".history")).to_contain_text("Version 1, created")
    page.get_by_role("tab", name="Search").click()
    page.get_by_role("searchbox", name="Search").fill("what can read-only keys see")
    page.get_by_role("button", name="Search", exact=True).click()
    results = page.get_by_role("list", name="Search results").locator("li.memory")
    expect(results.first).to_be_visible()


def test_workspaces_switch_and_sign_out_forgets_the_key(watched, server):
    _, keys = server
    create(server, keys["admin"], "Project Falcon kickoff notes", workspace="projects")
    page = watched.page
    sign_in(page, keys["admin"])
    page.get_by_label("Switch workspace").fill("projects")
    page.get_by_role("button", name="Open").click()
    expect(page.locator("#who")).to_contain_text("workspace projects")
    entries = page.locator("li.memory")
    expect(entries).to_have_count(1)
    expect(entries.first).to_contain_text("Project Falcon")
    page.reload()  # the tab keeps its key and workspace
    expect(page.locator("li.memory").first).to_contain_text("Project Falcon")
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_label("API key")).to_be_visible()
    assert page.evaluate("sessionStorage.length") == 0
    page.reload()
    expect(page.get_by_role("button", name="Sign out")).to_be_hidden()


def test_webhooks_show_their_deliveries_and_stats_the_counts(watched, server):
    _, keys = server
    with Receiver() as receiver:
        status, hook = api(
            server, keys["admin"], "POST", "/api/v1/webhooks",
            {"url": receiver.url, "events": ["memory.created"]}, "hooks",
        )  # fmt: skip
        assert status == 201, hook
        create(server, keys["admin"], "An event for the receiver", workspace="hooks")
        receiver.wait_for(1)
        page = watched.page
        sign_in(page, keys["admin"], "hooks")
        page.get_by_role("tab", name="Webhooks").click()
        card = page.get_by_role("article", name=f"Webhook {receiver.url}")
        expect(card).to_contain_text("memory.created")
        row = card.get_by_role("row").nth(1)  # the newest attempt
        expect(row.get_by_role("cell").nth(3)).to_have_text("delivered")
        expect(row.get_by_role("cell").nth(4)).to_have_text("200")
    page.get_by_role("tab", name="Stats").click()
    expect(page.locator("#stats")).to_contain_text("hooks")
    _, stats = api(server, keys["admin"], "GET", "/api/v1/memory/stats", workspace="hooks")
    expect(page.locator("#stats dd").nth(1)).to_have_text(str(stats["memories"]))


def test_memory_text_is_shown_as_text_never_run(watched, server):
    _, keys = server
    hostile = '<img src="https://evil.example/x.png" onerror="window.hacked=1"><b>bold</b>'
    metadata = {
        "<svg onload=window.hacked=2>": "<script>window.hacked=3</script>",
        "tags": ['<img src=x onerror="window.hacked=4">'],
    }
    memory_id = create(server, keys["admin"], hostile, metadata, workspace="hostile")
    status, _ = api(
        server, keys["admin"], "POST", "/api/v1/webhooks",
        {"url": "http://127.0.0.1:9/hook", "events": ["memory.deleted"],
         "description": '<img src=x onerror="window.hacked=5">'}, "hostile",
    )  # fmt: skip
    assert status == 201
    page = watched.page
    sign_in(page, keys["admin"], "hostile")
    expect(item(page, memory_id).locator(".text")).to_have_text(hostile)
    expect(item(page, memory_id).get_by_role("list", name="Tags")).to_have_text(metadata["tags"][0])
    expect(item(page, memory_id).locator(".metadata")).to_contain_text("<svg onload")
    page.get_by_role("tab", name="Webhooks").click()
    expect(page.locator(".webhook")).to_contain_text("onerror")
    assert page.locator("main img, main b, main script, main svg").count() == 0
    assert page.evaluate("window.hacked") is None


def test_keyboard_and_a_phone_sized_screen(watched, server):
    _, keys = server
    page = watched.page
    page.set_viewport_size({"width": 360, "height": 740})
    sign_in(page, keys["admin"])
    page.get_by_role("tab", name="Memories").focus()
    page.keyboard.press("ArrowRight")
    expect(page.get_by_role("tab", name="Search")).to_be_focused()
    expect(page.get_by_role("tab", name="Search")).to_have_attribute("aria-selected", "true")
    expect(page.get_by_role("searchbox", name="Search")).to_be_visible()
    page.keyboard.press("End")
    expect(page.get_by_role("tab", name="Stats")).to_have_attribute("aria-selected", "true")
    # Nothing wider than the screen: no sideways scrolling on a phone.
    assert page.evaluate("document.documentElement.scrollWidth") <= 360


def test_pages_of_memories_and_a_last_page_that_empties(watched, server):
    _, keys = server
    batch = {"memories": [{"text": f"Reading list entry {n:02d}"} for n in range(45)]}
    status, answer = api(server, keys["admin"], "POST", "/v1/memories/batch", batch, "pages")
    assert status in (200, 201, 207), answer
    page = watched.page
    sign_in(page, keys["admin"], "pages")
    label = page.locator("#page-label")
    expect(label).to_have_text("Page 1 of 3")
    expect(page.locator("li.memory")).to_have_count(20)
    expect(page.get_by_role("button", name="Previous")).to_be_disabled()
    page.get_by_role("button", name="Next").click()
    expect(label).to_have_text("Page 2 of 3")
    page.get_by_role("button", name="Next").click()
    expect(label).to_have_text("Page 3 of 3")
    expect(page.locator("li.memory")).to_have_count(5)
    expect(page.get_by_role("button", name="Next")).to_be_disabled()
    expect(page.get_by_role("button", name="Previous")).to_be_focused()  # focus stays put
    last = page.locator("li.memory").evaluate_all("nodes => nodes.map(n => n.dataset.id)")
    for memory_id in last:  # another client empties the last page
        assert api(server, keys["admin"], "DELETE", f"/v1/memories/{memory_id}", None, "pages")[0]
    page.get_by_role("button", name="Refresh").click()
    expect(label).to_have_text("Page 2 of 2")
    expect(page.locator("li.memory")).to_have_count(20)


def test_dates_expiry_and_metadata_are_shown(watched, server):
    _, keys = server
    status, answer = api(
        server, keys["admin"], "POST", "/v1/memories",
        {"text": "Parking permit renewal", "metadata": {"type": "todo", "priority": 2},
         "ttl_seconds": 86400}, "dated",
    )  # fmt: skip
    assert status == 201, answer
    page = watched.page
    sign_in(page, keys["admin"], "dated")
    entry = page.locator("li.memory").first
    expect(entry.locator(".dates")).to_contain_text("Created ")
    expect(entry.locator(".dates")).to_contain_text("expires ")
    expect(entry.locator(".metadata")).to_contain_text("type")
    expect(entry.locator(".metadata")).to_contain_text("todo")
    expect(entry.locator(".metadata")).to_contain_text("priority")


def test_search_type_source_and_date_filters(watched, server):
    _, keys = server
    todo = create(server, keys["admin"], "Buy light bulbs", {"type": "todo"}, "filters")
    create(
        server, keys["admin"], "Light bulbs are in the hall cupboard", {"type": "note"}, "filters"
    )
    page = watched.page
    sign_in(page, keys["admin"], "filters")
    page.get_by_role("tab", name="Search").click()
    form = page.locator("#search-form")
    page.get_by_role("searchbox", name="Search").fill("light bulbs")
    form.get_by_label("Type").fill("todo")
    page.get_by_role("button", name="Search", exact=True).click()
    results = page.get_by_role("list", name="Search results").locator("li.memory")
    expect(results).to_have_count(1)
    expect(results.first).to_have_attribute("data-id", todo)
    form.get_by_label(re.compile(r"^Created to")).fill("2001-01-01")  # long before both
    page.get_by_role("button", name="Search", exact=True).click()
    expect(page.get_by_role("list", name="Search results")).to_have_text("Nothing found.")
    form.get_by_label(re.compile(r"^Created to")).fill("")
    form.get_by_label(re.compile(r"^More filters")).fill('{"type": "note"}')
    page.get_by_role("button", name="Search", exact=True).click()
    expect(page.locator("#search-error")).to_contain_text("given twice")


def test_a_failing_webhook_shows_its_error_and_next_retry(watched, server):
    from server import free_port

    _, keys = server
    url = f"http://127.0.0.1:{free_port()}/hook"  # nobody listens: every attempt fails
    status, hook = api(
        server, keys["admin"], "POST", "/api/v1/webhooks",
        {"url": url, "events": ["memory.created"]}, "down",
    )  # fmt: skip
    assert status == 201, hook
    create(server, keys["admin"], "An event nobody receives", workspace="down")
    path = f"/api/v1/webhooks/{hook['id']}/deliveries"
    deadline = time.monotonic() + 30
    while not api(server, keys["admin"], "GET", path, None, "down")[1]["deliveries"]:
        assert time.monotonic() < deadline, "no delivery attempt within 30 s"
        time.sleep(0.2)
    page = watched.page
    sign_in(page, keys["admin"], "down")
    page.get_by_role("tab", name="Webhooks").click()
    row = page.get_by_role("article", name=f"Webhook {url}").get_by_role("row").nth(1)
    cells = row.get_by_role("cell")
    expect(cells.nth(3)).to_have_text("retrying")
    expect(cells.nth(5)).not_to_have_text("")  # the error
    expect(cells.nth(6)).not_to_have_text("")  # the next retry


def test_a_key_revoked_while_signed_in_signs_the_tab_out(watched, server):
    from memory_server.api_keys import KeyStore
    from memory_server.storage.database import Database

    running, _ = server
    db = Database(running.env["MEMORY_API_DB"])
    try:
        new = KeyStore(db).create("enterprise", "alice", name="soon revoked")
        page = watched.page
        sign_in(page, new.plaintext)
        expect(page.locator("#page-label")).to_have_text(re.compile(r"^Page"))
        expect(page.locator("#workspace-names option")).not_to_have_count(0)  # all loaded
        KeyStore(db).revoke(new.key.id)
    finally:
        db.close()
    page.get_by_role("button", name="Refresh").click()
    expect(page.get_by_role("alert")).to_contain_text("no longer accepted")
    expect(page.get_by_label("API key")).to_be_visible()
    assert page.evaluate("sessionStorage.length") == 0


def test_an_answer_for_the_previous_sign_in_is_never_shown(watched, server):
    _, keys = server
    create(server, keys["admin"], "Alice's private note about the surprise party")
    create(server, keys["bob"], "Bob's grocery list: eggs, flour")
    page = watched.page
    held = holding(page, "GET", "/v1/memories")
    sign_in(page, keys["admin"])
    page.wait_for_timeout(200)  # alice's list request is now held
    assert len(held) == 1
    page.get_by_role("button", name="Sign out").click()
    sign_in(page, keys["bob"])
    expect(page.locator("li.memory").first).to_contain_text("Bob's grocery list")
    release(held)  # alice's answer arrives late: it must not replace bob's list
    page.wait_for_timeout(300)
    expect(page.locator("#memory-list")).not_to_contain_text("Alice")


def test_switching_workspace_during_a_bulk_delete_deletes_nothing_in_the_new_one(watched, server):
    _, keys = server
    for workspace in ("alpha", "beta"):
        for n in range(3):
            status, answer = api(
                server, keys["admin"], "POST", "/v1/memories",
                {"text": f"{workspace} note {n}", "memory_id": f"note-{n}"}, workspace,
            )  # fmt: skip
            assert status == 201, answer
    page = watched.page
    sign_in(page, keys["admin"], "alpha")
    for n in range(3):
        item(page, f"note-{n}").get_by_role("checkbox").check()
    held = holding(page, "DELETE", "/v1/memories/note-0")  # the first one the loop sends
    page.get_by_role("button", name="Delete selected (3)").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete").click()
    page.wait_for_timeout(200)
    page.get_by_label("Switch workspace").fill("beta")
    page.get_by_role("button", name="Open").click()
    expect(page.locator("#who")).to_contain_text("workspace beta")
    release(held)
    page.wait_for_timeout(300)
    _, beta = api(server, keys["admin"], "GET", "/v1/memories", None, "beta")
    assert beta["pagination"]["total"] == 3  # untouched
    _, alpha = api(server, keys["admin"], "GET", "/v1/memories", None, "alpha")
    assert alpha["pagination"]["total"] >= 2  # it stopped: at most the held one went
    expect(page.get_by_role("status")).not_to_contain_text("Deleted 3")


def test_long_values_never_make_a_phone_scroll_sideways(watched, server):
    _, keys = server
    long_word = "x" * 120
    create(
        server, keys["admin"], f"A memory with a very long word {long_word}",
        {"k" * 100: "v" * 100, "tags": ["t" * 80]}, "phone",
    )  # fmt: skip
    status, _ = api(
        server, keys["admin"], "POST", "/api/v1/webhooks",
        {"url": f"http://127.0.0.1:9/{'p' * 300}", "events": ["memory.created"],
         "description": "d" * 200}, "phone",
    )  # fmt: skip
    assert status == 201
    page = watched.page
    page.set_viewport_size({"width": 360, "height": 740})
    sign_in(page, keys["admin"], "phone")
    for tab in ("Memories", "Search", "Webhooks", "Stats"):
        page.get_by_role("tab", name=tab).click()
        if tab == "Memories":
            expect(page.locator("li.memory")).to_have_count(1)
        if tab == "Search":
            page.get_by_role("searchbox", name="Search").fill("very long word")
            page.get_by_role("button", name="Search", exact=True).click()
            results = page.get_by_role("list", name="Search results").locator("li.memory")
            expect(results).to_have_count(1)
        if tab == "Webhooks":
            expect(page.locator(".webhook")).to_have_count(1)
        if tab == "Stats":
            expect(page.locator("#stats dd").first).to_have_text("phone")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 360, f"{tab}: {width} px wide on a 360 px screen"


def test_a_long_memory_shows_the_chunk_that_matched(watched, server):
    _, keys = server
    filler = " ".join(
        f"Paragraph {n} of the household manual covers the garden shed." for n in range(60)
    )
    needle = "The water main stopcock is behind the kitchen kickboard, turn it clockwise."
    memory_id = create(server, keys["admin"], f"{filler} {needle}", workspace="long")
    page = watched.page
    sign_in(page, keys["admin"], "long")
    page.get_by_role("tab", name="Search").click()
    page.get_by_role("searchbox", name="Search").fill("where do I shut off the water supply")
    page.get_by_label(re.compile(r"^Mode")).select_option("semantic")
    page.get_by_role("button", name="Search", exact=True).click()
    result = page.get_by_role("list", name="Search results").locator("li.memory").first
    expect(result).to_have_attribute("data-id", memory_id)
    mark = result.locator("mark")
    expect(mark).to_have_count(1)  # only part of the text: the chunk that matched
    expect(mark).to_contain_text("stopcock")
    assert len(mark.inner_text()) < len(filler)
