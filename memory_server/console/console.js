// The web console: a client of this server's REST API, with no framework and no build step.
// The API key lives in this tab's sessionStorage and goes out only as a Bearer header.
// Everything shown from the server is put in the page as text (textContent), never as HTML:
// memories are written by agents and may hold anything.

const KEY = "memory-console.key";
const WORKSPACE = "memory-console.workspace";
const PAGE_SIZE = 20;
const NAME = /^[A-Za-z0-9_.:-]{1,64}$/;
const KEY_CHARACTERS = /^[\x21-\x7e]+$/; // what a header can carry; keys are msk_ + base64url

const $ = (id) => document.getElementById(id);

const state = {
  key: null, // GET /v1/key's answer for the signed-in key and workspace
  session: 0, // +1 at each sign-in, sign-out and workspace switch: older answers are dropped
  controller: new AbortController(), // aborts the requests of the session that ended
  tickets: {}, // per view, the latest load: an answer to an older one is dropped
  page: 1,
  totalPages: 1,
  selected: new Map(), // id -> a snippet of its text, across pages
};

// --- sessions ---------------------------------------------------------------------------

// What a request is made with: fixed when an action starts, so a sign-out or a workspace
// switch in the middle of it cannot send the rest elsewhere or with another key.
function currentSession() {
  return {
    key: sessionStorage.getItem(KEY),
    workspace: sessionStorage.getItem(WORKSPACE) || "default",
    id: state.session,
    signal: state.controller.signal,
  };
}

function isCurrent(session) {
  return session.id === state.session;
}

function newSession() {
  state.session += 1;
  state.controller.abort();
  state.controller = new AbortController();
  state.tickets = {};
  state.selected.clear();
}

// A ticket for one load of a view: `fresh()` is false once a newer load of it started.
function ticket(view, session) {
  const number = (state.tickets[view] || 0) + 1;
  state.tickets[view] = number;
  return () => isCurrent(session) && state.tickets[view] === number;
}

// --- talking to the API ---------------------------------------------------------------

class ApiError extends Error {
  constructor(status, body) {
    super(describeError(status, body));
    this.status = status;
    this.body = body;
  }
}

function describeError(status, body) {
  if (!body || typeof body !== "object") return `The server answered ${status}.`;
  let text = body.message || body.error || `The server answered ${status}.`;
  const details = body.details?.fields ?? body.details;
  if (details && typeof details === "object") {
    const parts = Object.entries(details).map(([field, problem]) => `${field}: ${flatten(problem)}`);
    if (parts.length) text += ` (${parts.join("; ")})`;
  }
  if (status === 429 && body.retry_after) text += ` Try again in ${body.retry_after} s.`;
  return text;
}

function flatten(problem) {
  if (Array.isArray(problem)) return problem.map(flatten).join(" ");
  if (problem && typeof problem === "object") {
    return Object.entries(problem).map(([k, v]) => `${k}: ${flatten(v)}`).join("; ");
  }
  return String(problem);
}

// One request in a session; `signIn`: the key is being tried, so a 401 signs nobody out.
async function api(session, method, path, { body, headers = {}, signIn = false } = {}) {
  const sent = {
    Authorization: `Bearer ${session.key}`,
    "X-Workspace-ID": session.workspace,
    ...headers,
  };
  if (body !== undefined) sent["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(path, {
      method,
      headers: sent,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "omit", // the key is the only credential: no cookie ever goes out
      cache: "no-store",
      signal: session.signal,
    });
  } catch (error) {
    if (error.name === "AbortError") throw new ApiError(-1, { message: "Cancelled." });
    throw new ApiError(0, { message: "The server cannot be reached. Is it running?" });
  }
  const text = await response.text();
  let parsed = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = { message: text.slice(0, 200) };
  }
  if (!response.ok) {
    if (response.status === 401 && !signIn && isCurrent(session)) {
      signOut("Your API key is no longer accepted (revoked or expired). Sign in again.");
    }
    throw new ApiError(response.status, parsed);
  }
  return { data: parsed, headers: response.headers };
}

// --- building the page ----------------------------------------------------------------

function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === false || value === null || value === undefined) continue;
    if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else if (name === "text") element.textContent = value;
    else element.setAttribute(name, value === true ? "" : value);
  }
  if (children.length) put(element, ...children);
  return element;
}

// Replace an element's children; null, undefined and false stand for nothing.
function put(element, ...children) {
  element.replaceChildren(
    ...children
      .flat(Infinity)
      .filter((child) => child !== null && child !== undefined && child !== false)
      .map((child) => (child instanceof Node ? child : document.createTextNode(String(child)))),
  );
}

function say(message) {
  $("status").textContent = message;
}

function formatDate(value) {
  if (!value) return "";
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? value : date.toLocaleString();
}

function snippet(text, length = 60) {
  const flat = text.replace(/\s+/g, " ").trim();
  return flat.length > length ? `${flat.slice(0, length - 1)}…` : flat;
}

function canWrite() {
  return state.key && !state.key.read_only;
}

function parseJsonObject(raw, what) {
  if (!raw.trim()) return {};
  let value;
  try {
    value = JSON.parse(raw);
  } catch (error) {
    throw new Error(`${what} is not valid JSON: ${error.message}`);
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new Error(`${what} must be a JSON object, like {"source": "notes"}.`);
  }
  return value;
}

// Asks in a modal dialog (keyboard and focus handled by the browser); true when confirmed.
function confirmAction(title, message, confirmLabel = "Delete") {
  const dialog = $("confirm");
  $("confirm-title").textContent = title;
  $("confirm-text").textContent = message;
  $("confirm-ok").textContent = confirmLabel;
  return new Promise((resolve) => {
    const onClose = () => {
      dialog.removeEventListener("close", onClose);
      resolve(dialog.returnValue === "ok");
    };
    dialog.addEventListener("close", onClose);
    dialog.returnValue = "cancel";
    dialog.showModal();
  });
}

// --- signing in and out ---------------------------------------------------------------

async function signIn(event) {
  event.preventDefault();
  const key = $("api-key").value.trim();
  const typed = $("workspace").value.trim();
  const workspace = typed || "default";
  const error = $("sign-in-error");
  error.textContent = "";
  if (!KEY_CHARACTERS.test(key)) {
    error.textContent = "That is not an API key: keys look like msk_… with letters, digits, - and _ only. Check what you pasted.";
    return;
  }
  if (!NAME.test(workspace)) {
    error.textContent = "A workspace name is 1-64 characters of A-Z a-z 0-9 _ . : -";
    return;
  }
  newSession();
  const session = { ...currentSession(), key, workspace };
  try {
    const { data } = await api(session, "GET", "/v1/key", { signIn: true });
    if (!isCurrent(session)) return;
    sessionStorage.setItem(KEY, key);
    sessionStorage.setItem(WORKSPACE, workspace);
    $("api-key").value = "";
    enter(data.data);
  } catch (failure) {
    if (failure.status === -1) return;
    if (failure.status === 401) {
      error.textContent = "That API key was not accepted: it is unknown, revoked or expired.";
    } else if (failure.status === 403 && !typed) {
      error.textContent = `This key is limited to some workspaces: enter one of them in Workspace. (${failure.message})`;
    } else {
      error.textContent = failure.message;
    }
  }
}

// Forget the key and everything shown or typed with it: the next person sees none of it.
function signOut(message = "") {
  newSession();
  sessionStorage.removeItem(KEY);
  sessionStorage.removeItem(WORKSPACE);
  state.key = null;
  for (const form of ["create-form", "search-form", "workspace-form"]) $(form).reset();
  $("create").open = false;
  for (const box of ["memory-list", "search-results", "webhook-list", "stats"]) put($(box));
  for (const text of ["list-count", "page-label", "status", "create-error", "search-error", "who"]) {
    $(text).textContent = "";
  }
  $("console").hidden = true;
  $("session").hidden = true;
  $("sign-in").hidden = false;
  $("sign-in-error").textContent = message;
  $("api-key").focus();
}

function enter(key) {
  state.key = key;
  state.page = 1;
  $("sign-in").hidden = true;
  $("console").hidden = false;
  $("session").hidden = false;
  $("who").textContent =
    `${key.name || key.id} · ${key.owner} · ${key.tier}${key.read_only ? " · read-only" : ""}` +
    ` · workspace ${key.workspace}`;
  $("workspace-switch").value = key.workspace;
  for (const element of document.querySelectorAll(".writes")) element.hidden = key.read_only;
  put($("search-results"));
  $("search-heading").hidden = true;
  updateBulk();
  fillWorkspaceNames();
  selectTab("tab-memories", false);
  $("main").focus();
}

async function switchWorkspace(event) {
  event.preventDefault();
  const workspace = $("workspace-switch").value.trim();
  if (!NAME.test(workspace)) {
    say("A workspace name is 1-64 characters of A-Z a-z 0-9 _ . : -");
    return;
  }
  newSession();
  const session = { ...currentSession(), workspace };
  try {
    const { data } = await api(session, "GET", "/v1/key");
    if (!isCurrent(session)) return;
    sessionStorage.setItem(WORKSPACE, workspace);
    enter(data.data);
    say(`Workspace ${workspace}.`);
  } catch (failure) {
    if (failure.status === -1) return;
    // Still signed in to the workspace before: show it again, with why the switch failed.
    $("workspace-switch").value = state.key.workspace;
    selectTab(activeTab(), false);
    say(failure.message);
  }
}

async function fillWorkspaceNames() {
  const session = currentSession();
  const names = new Set(state.key.workspaces || []);
  try {
    const { data } = await api(session, "GET", "/api/v1/memory/stats");
    for (const workspace of data.owner.workspaces) names.add(workspace.workspace);
  } catch {
    // Only suggestions: typing a name still works.
  }
  if (isCurrent(session)) put($("workspace-names"), [...names].sort().map((name) => h("option", { value: name })));
}

// --- tabs -----------------------------------------------------------------------------

const TABS = ["tab-memories", "tab-search", "tab-webhooks", "tab-stats"];
const LOADERS = {
  "tab-memories": () => loadMemories(),
  "tab-search": () => {},
  "tab-webhooks": () => loadWebhooks(),
  "tab-stats": () => loadStats(),
};

function activeTab() {
  return TABS.find((tab) => $(tab).getAttribute("aria-selected") === "true");
}

function selectTab(id, focus = true) {
  for (const tab of TABS) {
    const selected = tab === id;
    $(tab).setAttribute("aria-selected", String(selected));
    $(tab).tabIndex = selected ? 0 : -1;
    $($(tab).getAttribute("aria-controls")).hidden = !selected;
  }
  if (focus) $(id).focus();
  say("");
  LOADERS[id]();
}

function onTabKey(event) {
  const index = TABS.indexOf(event.target.id);
  const moves = { ArrowRight: 1, ArrowLeft: -1, Home: -index, End: TABS.length - 1 - index };
  if (!(event.key in moves)) return;
  event.preventDefault();
  selectTab(TABS[(index + moves[event.key] + TABS.length) % TABS.length]);
}

// --- one memory -----------------------------------------------------------------------

// Code points, as the API counts best_chunk's start and end (JavaScript counts UTF-16 units).
function highlighted(text, chunk) {
  if (!chunk) return [text];
  const points = Array.from(text);
  if (chunk.start === 0 && chunk.end >= points.length) return [text];
  return [
    points.slice(0, chunk.start).join(""),
    h("mark", { text: points.slice(chunk.start, chunk.end).join("") }),
    points.slice(chunk.end).join(""),
  ];
}

// Metadata as "key value" pairs; values that are not strings as JSON.
function metadataList(metadata) {
  return h("dl", { class: "metadata" },
    Object.entries(metadata).map(([name, value]) =>
      h("div", {},
        h("dt", { text: name }),
        h("dd", { text: typeof value === "string" ? value : JSON.stringify(value) }),
      ),
    ),
  );
}

// One memory in a list; `onDeleted` runs after it is deleted, `selectable` shows its checkbox.
function memoryItem(memory, { score, chunk, onDeleted, selectable = false }) {
  let match = chunk; // the matching chunk's place in the text, until the text is edited
  const item = h("li", { class: "memory", "data-id": memory.id });
  const editButton = () => item.querySelector("button.edit");

  const render = () => {
    const tags = Array.isArray(memory.metadata.tags) ? memory.metadata.tags : [];
    const rest = Object.fromEntries(Object.entries(memory.metadata).filter(([k]) => k !== "tags"));
    const history = h("button", { type: "button", "aria-expanded": "false" }, "History");
    history.addEventListener("click", () => toggleHistory(memory, item, history));
    put(item,
      h("div", { class: "memory-head" },
        canWrite() && selectable
          ? h("input", {
              type: "checkbox",
              "aria-label": `Select: ${snippet(memory.text, 40)}`,
              checked: state.selected.has(memory.id),
              onchange: (event) => toggleSelected(memory, event.target.checked),
            })
          : null,
        score === undefined ? null : h("span", { class: "score", text: `score ${score.toFixed(3)}` }),
        h("code", { class: "id", text: memory.id }),
      ),
      h("p", { class: "text" }, highlighted(memory.text, match)),
      tags.length ? h("ul", { class: "tags", "aria-label": "Tags" }, tags.map((tag) => h("li", { text: String(tag) }))) : null,
      Object.keys(rest).length ? metadataList(rest) : null,
      h("p", { class: "dates" },
        `Created ${formatDate(memory.created_at)}`,
        memory.updated_at !== memory.created_at ? ` · updated ${formatDate(memory.updated_at)}` : null,
        memory.expires_at ? ` · expires ${formatDate(memory.expires_at)}` : null,
      ),
      h("div", { class: "actions" },
        history,
        canWrite() ? h("button", { type: "button", class: "edit", onclick: () => edit() }, "Edit") : null,
        canWrite() ? h("button", { type: "button", class: "danger", onclick: () => remove() }, "Delete") : null,
      ),
      h("div", { class: "history" }),
    );
  };

  const edit = async () => {
    // The current version and its ETag: the save is refused if someone changed it since.
    const session = currentSession();
    let etag;
    try {
      const { data, headers } = await api(session, "GET", `/v1/memories/${memory.id}`);
      memory = data.data;
      etag = headers.get("ETag");
    } catch (failure) {
      if (failure.status !== -1) say(failure.message);
      return;
    }
    if (!isCurrent(session)) return;
    const textId = `edit-text-${memory.id}`;
    const metadataId = `edit-metadata-${memory.id}`;
    const error = h("p", { class: "error", role: "alert" });
    const text = h("textarea", { id: textId, rows: 4, required: true });
    const metadataField = h("textarea", { id: metadataId, rows: 3, spellcheck: "false" });
    text.value = memory.text;
    metadataField.value = JSON.stringify(memory.metadata, null, 2);
    const cancel = () => {
      render();
      editButton()?.focus();
    };
    const form = h("form", { class: "edit", "aria-label": `Edit memory ${memory.id}` },
      h("label", { for: textId, text: "Text" }),
      text,
      h("label", { for: metadataId }, "Metadata ", h("span", { class: "hint", text: "(JSON object)" })),
      metadataField,
      h("div", { class: "actions" },
        h("button", { type: "submit" }, "Save"),
        h("button", { type: "button", onclick: cancel }, "Cancel"),
      ),
      error,
    );
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      error.textContent = "";
      let metadata;
      try {
        metadata = parseJsonObject(metadataField.value, "Metadata");
      } catch (problem) {
        error.textContent = problem.message;
        metadataField.focus();
        return;
      }
      try {
        const { data } = await api(session, "PUT", `/v1/memories/${memory.id}`, {
          body: { text: text.value, metadata },
          headers: etag ? { "If-Match": etag } : {},
        });
        if (!isCurrent(session)) return;
        memory = data.data;
        match = null;
        render();
        editButton()?.focus();
        say("Saved.");
      } catch (failure) {
        if (failure.status === -1) return;
        error.textContent =
          failure.status === 412
            ? "This memory changed since you opened it: cancel, then edit it again."
            : failure.message;
      }
    });
    put(item, form);
    text.focus();
  };

  const remove = async () => {
    const session = currentSession();
    const sure = await confirmAction("Delete memory", `Delete this memory for good?\n\n${snippet(memory.text, 200)}`);
    if (!sure || !isCurrent(session)) return;
    try {
      await api(session, "DELETE", `/v1/memories/${memory.id}`);
      state.selected.delete(memory.id);
      say("Deleted.");
      onDeleted();
    } catch (failure) {
      if (failure.status !== -1) say(failure.message);
    }
  };

  render();
  return item;
}

async function toggleHistory(memory, item, button) {
  const box = item.querySelector(".history");
  if (box.childElementCount) {
    put(box);
    button.setAttribute("aria-expanded", "false");
    return;
  }
  const session = currentSession();
  try {
    const { data } = await api(session, "GET", `/v1/memories/${memory.id}/history`);
    if (!isCurrent(session)) return;
    put(box,
      h("h3", { text: "History" }),
      h("ol", { class: "versions" },
        data.data.map((version) =>
          h("li", {},
            h("p", { class: "dates", text: `Version ${version.version}, ${version.event} ${formatDate(version.changed_at)}` }),
            h("p", { class: "text", text: version.text }),
            Object.keys(version.metadata).length ? metadataList(version.metadata) : null,
          ),
        ),
      ),
    );
    button.setAttribute("aria-expanded", "true");
  } catch (failure) {
    if (failure.status !== -1) put(box, h("p", { class: "error", role: "alert", text: failure.message }));
  }
}

// --- browsing -------------------------------------------------------------------------

async function loadMemories({ focus = null } = {}) {
  const session = currentSession();
  const fresh = ticket("memories", session);
  const query = new URLSearchParams({ page: state.page, per_page: PAGE_SIZE });
  try {
    const { data } = await api(session, "GET", `/v1/memories?${query}`);
    if (!fresh()) return;
    const { total, total_pages: pages } = data.pagination;
    if (state.page > 1 && state.page > pages) {
      state.page = Math.max(pages, 1); // the last page emptied: show the one before
      return loadMemories({ focus });
    }
    state.totalPages = Math.max(pages, 1);
    put($("memory-list"),
      data.data.map((memory) =>
        memoryItem(memory, { selectable: true, onDeleted: () => loadMemories({ focus: "list" }) }),
      ),
      data.data.length ? null : h("li", { class: "empty", text: "No memories in this workspace yet." }),
    );
    $("list-count").textContent = `(${total})`;
    $("page-label").textContent = `Page ${state.page} of ${state.totalPages}`;
    $("previous-page").disabled = state.page <= 1;
    $("next-page").disabled = state.page >= state.totalPages;
    updateBulk();
    const lost = document.activeElement === document.body || document.activeElement?.disabled;
    if (focus === "list") $("list-title").focus();
    else if (focus === "pager" && lost) pagerFocus();
  } catch (failure) {
    if (failure.status !== -1 && fresh()) say(failure.message);
  }
}

// After a page change: keep focus on the pager, on the button that is still usable.
function pagerFocus() {
  const next = $("next-page");
  (next.disabled ? $("previous-page") : next).focus();
}

function turnPage(step) {
  state.page = Math.min(Math.max(state.page + step, 1), state.totalPages);
  loadMemories({ focus: "pager" });
}

function toggleSelected(memory, on) {
  if (on) state.selected.set(memory.id, snippet(memory.text, 40));
  else state.selected.delete(memory.id);
  updateBulk();
}

function updateBulk() {
  const count = state.selected.size;
  $("delete-selected").disabled = count === 0;
  $("delete-selected").textContent = count ? `Delete selected (${count})` : "Delete selected";
}

async function deleteSelected() {
  const session = currentSession();
  const chosen = [...state.selected];
  if (!chosen.length) return;
  const shown = new Set([...$("memory-list").querySelectorAll("li.memory")].map((li) => li.dataset.id));
  const elsewhere = chosen.filter(([id]) => !shown.has(id)).length;
  const names = chosen.slice(0, 5).map(([, text]) => `• ${text}`).join("\n");
  const more = chosen.length > 5 ? `\n… and ${chosen.length - 5} more` : "";
  const pages = elsewhere ? `\n\n${elsewhere} of them ${elsewhere === 1 ? "is" : "are"} on other pages.` : "";
  const title = `Delete ${chosen.length} ${chosen.length === 1 ? "memory" : "memories"}`;
  if (!(await confirmAction(title, `${title} for good?\n\n${names}${more}${pages}`))) return;
  let deleted = 0;
  let gone = 0;
  const failed = [];
  for (const [id] of chosen) {
    if (!isCurrent(session)) return; // signed out or switched workspace: stop here
    try {
      await api(session, "DELETE", `/v1/memories/${id}`);
      deleted += 1;
      state.selected.delete(id);
    } catch (failure) {
      if (failure.status === -1) return;
      if (failure.status === 404) {
        gone += 1; // deleted meanwhile by someone else
        state.selected.delete(id);
      } else {
        failed.push(`${id}: ${failure.message}`);
      }
    }
  }
  const parts = [`Deleted ${deleted}.`];
  if (gone) parts.push(`${gone} had been deleted already.`);
  if (failed.length) parts.push(`Not deleted: ${failed.join("; ")}`);
  say(parts.join(" "));
  loadMemories({ focus: "list" });
}

async function createMemory(event) {
  event.preventDefault();
  const session = currentSession();
  const error = $("create-error");
  error.textContent = "";
  let metadata;
  try {
    metadata = parseJsonObject($("new-metadata").value, "Metadata");
  } catch (problem) {
    error.textContent = problem.message;
    $("new-metadata").focus();
    return;
  }
  try {
    const { data } = await api(session, "POST", "/v1/memories", { body: { text: $("new-text").value, metadata } });
    if (!isCurrent(session)) return;
    $("new-text").value = "";
    $("new-metadata").value = "";
    $("new-text").focus();
    say(data.duplicate ? "Not stored: this workspace holds that text already." : "Saved.");
    state.page = 1;
    loadMemories();
  } catch (failure) {
    if (failure.status !== -1) error.textContent = failure.message;
  }
}

// --- searching ------------------------------------------------------------------------

// The filters: "More filters" JSON, and the fields, which may not contradict it.
function searchFilters() {
  const filters = parseJsonObject($("filter-json").value, "More filters");
  const given = (name, value, label) => {
    if (name in filters && JSON.stringify(filters[name]) !== JSON.stringify(value)) {
      throw new Error(`${label} is given twice, in its field and in More filters: keep one.`);
    }
    filters[name] = value;
  };
  const tags = $("filter-tags").value.split(",").map((tag) => tag.trim()).filter(Boolean);
  if (tags.length) {
    const tagFilter = filters.tags && typeof filters.tags === "object" ? filters.tags : {};
    filters.tags = { ...tagFilter, any: [...new Set([...(tagFilter.any || []), ...tags])] };
  }
  if ($("filter-type").value.trim()) given("type", $("filter-type").value.trim(), "Type");
  if ($("filter-source").value.trim()) given("source", $("filter-source").value.trim(), "Source");
  // Dates are the user's local days, both included: from the start of the first to the end
  // of the last.
  if ($("filter-after").value) {
    given("created_after", new Date(`${$("filter-after").value}T00:00:00`).toISOString(), "Created from");
  }
  if ($("filter-before").value) {
    const end = new Date(`${$("filter-before").value}T00:00:00`);
    end.setDate(end.getDate() + 1);
    given("created_before", end.toISOString(), "Created to");
  }
  return filters;
}

async function search(event, { quiet = false } = {}) {
  event?.preventDefault();
  const session = currentSession();
  const fresh = ticket("search", session);
  const error = $("search-error");
  error.textContent = "";
  let filters;
  try {
    filters = searchFilters();
  } catch (problem) {
    error.textContent = problem.message;
    return;
  }
  const body = {
    query: $("search-query").value,
    mode: $("search-mode").value,
    limit: Number($("search-limit").value) || 10,
    filters,
  };
  if ($("search-threshold").value !== "") body.threshold = Number($("search-threshold").value);
  try {
    const started = performance.now();
    const { data } = await api(session, "POST", "/v1/memories/search", { body });
    if (!fresh()) return;
    const results = data.data;
    put($("search-results"),
      results.map((result) =>
        memoryItem(result, {
          score: result.score,
          chunk: result.best_chunk,
          onDeleted: () => {
            $("search-heading").focus();
            search(null, { quiet: true });
          },
        }),
      ),
      results.length ? null : h("li", { class: "empty", text: "Nothing found." }),
    );
    $("search-heading").hidden = false;
    if (!quiet) {
      say(`${results.length} ${results.length === 1 ? "result" : "results"} in ${Math.round(performance.now() - started)} ms.`);
    }
  } catch (failure) {
    if (failure.status !== -1 && fresh()) error.textContent = failure.message;
  }
}

// --- webhooks and stats ---------------------------------------------------------------

async function loadWebhooks() {
  const session = currentSession();
  const fresh = ticket("webhooks", session);
  const box = $("webhook-list");
  try {
    const { data } = await api(session, "GET", "/api/v1/webhooks");
    if (!fresh()) return;
    put(box, data.webhooks.length
      ? data.webhooks.map((hook) => webhookCard(hook, session, fresh))
      : h("p", { class: "empty", text: "No webhooks in this workspace." }));
  } catch (failure) {
    if (failure.status !== -1 && fresh()) put(box, h("p", { class: "error", role: "alert", text: failure.message }));
  }
}

function webhookCard(hook, session, fresh) {
  const deliveries = h("div", { class: "deliveries" });
  const card = h("article", { class: "card webhook", "aria-label": `Webhook ${hook.url}` },
    h("h3", {}, h("code", { text: hook.url })),
    h("p", {},
      hook.enabled ? "Enabled" : `Paused${hook.disabled_reason ? `: ${hook.disabled_reason}` : ""}`,
      ` · events ${hook.events.join(", ")}`,
      hook.description ? ` · ${hook.description}` : null,
    ),
    deliveries,
  );
  api(session, "GET", `/api/v1/webhooks/${encodeURIComponent(hook.id)}/deliveries?limit=20`)
    .then(({ data }) => {
      if (!fresh()) return;
      if (!data.deliveries.length) {
        put(deliveries, h("p", { class: "hint", text: "No delivery attempts yet." }));
        return;
      }
      put(deliveries, h("div", { class: "scroll" }, deliveryTable(data.deliveries)));
    })
    .catch((failure) => {
      if (failure.status !== -1 && fresh()) put(deliveries, h("p", { class: "error", text: failure.message }));
    });
  return card;
}

function table(caption, columns, rows) {
  return h("table", {},
    h("caption", { text: caption }),
    h("thead", {}, h("tr", {}, columns.map((name) => h("th", { scope: "col", text: name })))),
    h("tbody", {}, rows),
  );
}

function deliveryTable(attempts) {
  return table(
    "Latest delivery attempts",
    ["When", "Event", "Attempt", "Outcome", "Status", "Error", "Next retry"],
    attempts.map((attempt) =>
      h("tr", { class: attempt.outcome },
        [
          formatDate(attempt.attempted_at),
          attempt.event_type,
          attempt.attempt,
          attempt.outcome,
          attempt.status_code ?? "",
          attempt.error ?? "",
          formatDate(attempt.next_retry_at),
        ].map((value) => h("td", { text: value })),
      ),
    ),
  );
}

async function loadStats() {
  const session = currentSession();
  const fresh = ticket("stats", session);
  const box = $("stats");
  try {
    const { data } = await api(session, "GET", "/api/v1/memory/stats");
    if (!fresh()) return;
    const figures = [
      ["This workspace", data.workspace],
      ["Memories", data.memories],
      ["Chunks", data.chunks],
      ["Oldest", formatDate(data.oldest_created_at) || "-"],
      ["Last change", formatDate(data.last_updated_at) || "-"],
    ];
    put(box,
      h("dl", { class: "figures" }, figures.map(([name, value]) => [h("dt", { text: name }), h("dd", { text: value })])),
      h("div", { class: "scroll" },
        table(
          `All workspaces of ${state.key.owner} this key may use: ${data.owner.memories} memories`,
          ["Workspace", "Memories", "Chunks", "Last change"],
          data.owner.workspaces.map((workspace) =>
            h("tr", {},
              [workspace.workspace, workspace.memories, workspace.chunks, formatDate(workspace.last_updated_at)]
                .map((value) => h("td", { text: value })),
            ),
          ),
        ),
      ),
    );
  } catch (failure) {
    if (failure.status !== -1 && fresh()) put(box, h("p", { class: "error", role: "alert", text: failure.message }));
  }
}

// --- start ----------------------------------------------------------------------------

function start() {
  $("sign-in-form").addEventListener("submit", signIn);
  $("sign-out").addEventListener("click", () => signOut());
  $("workspace-form").addEventListener("submit", switchWorkspace);
  $("create-form").addEventListener("submit", createMemory);
  $("search-form").addEventListener("submit", search);
  $("refresh").addEventListener("click", () => loadMemories());
  $("delete-selected").addEventListener("click", deleteSelected);
  $("previous-page").addEventListener("click", () => turnPage(-1));
  $("next-page").addEventListener("click", () => turnPage(1));
  for (const tab of TABS) {
    $(tab).addEventListener("click", () => selectTab(tab));
    $(tab).addEventListener("keydown", onTabKey);
  }
  const session = currentSession();
  if (!session.key) {
    $("api-key").focus();
    return;
  }
  // A reload of a signed-in tab: check the key again, it may have been revoked since.
  api(session, "GET", "/v1/key", { signIn: true })
    .then(({ data }) => isCurrent(session) && enter(data.data))
    .catch((failure) => {
      if (failure.status === -1 || !isCurrent(session)) return;
      signOut(failure.status === 401 ? "Your API key is no longer accepted. Sign in again." : failure.message);
    });
}

start();
