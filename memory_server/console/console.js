// The web console: a client of this server's REST API, with no framework and no build step.
// The API key lives in this tab's sessionStorage and goes out only as a Bearer header.
// Everything shown from the server is put in the page as text (textContent), never as HTML:
// memories are written by agents and may hold anything.

const KEY = "memory-console.key";
const WORKSPACE = "memory-console.workspace";
const PAGE_SIZE = 20;
const NAME = /^[A-Za-z0-9_.:-]{1,64}$/;

const $ = (id) => document.getElementById(id);

const state = {
  key: null, // GET /v1/key's answer
  page: 1,
  totalPages: 1,
  selected: new Set(),
};

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
  const details = body.details;
  if (details && typeof details === "object") {
    const parts = Object.entries(details).map(([field, problem]) => `${field}: ${flatten(problem)}`);
    if (parts.length) text += ` (${parts.join("; ")})`;
  }
  return text;
}

function flatten(problem) {
  if (Array.isArray(problem)) return problem.map(flatten).join(" ");
  if (problem && typeof problem === "object") {
    return Object.entries(problem).map(([k, v]) => `${k}: ${flatten(v)}`).join("; ");
  }
  return String(problem);
}

async function api(method, path, { body, headers = {}, key, workspace } = {}) {
  const sent = {
    Authorization: `Bearer ${key ?? sessionStorage.getItem(KEY)}`,
    "X-Workspace-ID": workspace ?? currentWorkspace(),
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
    });
  } catch (error) {
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
    if (response.status === 401 && key === undefined) signOut("Your API key is no longer accepted (revoked or expired). Sign in again.");
    throw new ApiError(response.status, parsed);
  }
  return { data: parsed, headers: response.headers };
}

function currentWorkspace() {
  return sessionStorage.getItem(WORKSPACE) || "default";
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
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

function say(message) {
  $("status").textContent = message;
}

function formatDate(value) {
  if (!value) return "";
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? value : date.toLocaleString();
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
function confirmAction(message, confirmLabel = "Delete") {
  const dialog = $("confirm");
  $("confirm-text").textContent = message;
  $("confirm-ok").textContent = confirmLabel;
  return new Promise((resolve) => {
    const done = (answer) => {
      dialog.removeEventListener("close", onClose);
      resolve(answer);
    };
    const onClose = () => done(dialog.returnValue === "ok");
    dialog.addEventListener("close", onClose);
    dialog.returnValue = "cancel";
    dialog.showModal();
  });
}

// --- signing in and out ---------------------------------------------------------------

async function signIn(event) {
  event.preventDefault();
  const key = $("api-key").value.trim();
  const workspace = $("workspace").value.trim() || "default";
  const error = $("sign-in-error");
  error.textContent = "";
  if (!NAME.test(workspace)) {
    error.textContent = "A workspace name is 1-64 characters of A-Z a-z 0-9 _ . : -";
    return;
  }
  try {
    const { data } = await api("GET", "/v1/key", { key, workspace });
    sessionStorage.setItem(KEY, key);
    sessionStorage.setItem(WORKSPACE, workspace);
    $("api-key").value = "";
    enter(data.data);
  } catch (failure) {
    error.textContent =
      failure.status === 401
        ? "That API key was not accepted: it is unknown, revoked or expired."
        : failure.message;
  }
}

function signOut(message = "") {
  sessionStorage.removeItem(KEY);
  sessionStorage.removeItem(WORKSPACE);
  state.key = null;
  state.selected.clear();
  $("console").hidden = true;
  $("session").hidden = true;
  $("sign-in").hidden = false;
  $("sign-in-error").textContent = message;
  for (const list of ["memory-list", "search-results", "webhook-list", "stats"]) $(list).replaceChildren();
  $("api-key").focus();
}

function enter(key) {
  state.key = key;
  state.page = 1;
  state.selected.clear();
  $("sign-in").hidden = true;
  $("console").hidden = false;
  $("session").hidden = false;
  $("who").textContent =
    `${key.name || key.id} · ${key.owner} · ${key.tier}${key.read_only ? " · read-only" : ""}` +
    ` · workspace ${key.workspace}`;
  $("workspace-switch").value = key.workspace;
  for (const element of document.querySelectorAll(".writes")) element.hidden = key.read_only;
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
  try {
    const { data } = await api("GET", "/v1/key", { workspace });
    sessionStorage.setItem(WORKSPACE, workspace);
    $("search-results").replaceChildren();
    enter(data.data);
    say(`Workspace ${workspace}.`);
  } catch (failure) {
    say(failure.message);
  }
}

async function fillWorkspaceNames() {
  const names = new Set(state.key.workspaces || []);
  try {
    const { data } = await api("GET", "/api/v1/memory/stats");
    for (const workspace of data.owner.workspaces) names.add(workspace.workspace);
  } catch {
    // Only suggestions: typing a name still works.
  }
  $("workspace-names").replaceChildren(...[...names].sort().map((name) => h("option", { value: name })));
}

// --- tabs -----------------------------------------------------------------------------

const TABS = ["tab-memories", "tab-search", "tab-webhooks", "tab-stats"];
const LOADERS = {
  "tab-memories": () => loadMemories(),
  "tab-search": () => {},
  "tab-webhooks": () => loadWebhooks(),
  "tab-stats": () => loadStats(),
};

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

function memoryItem(memory, { score, chunk, onChange }) {
  let match = chunk; // the matching chunk's place in the text, until the text is edited
  const item = h("li", { class: "memory", "data-id": memory.id });
  const render = () => {
    const tags = Array.isArray(memory.metadata.tags) ? memory.metadata.tags : [];
    const rest = Object.fromEntries(Object.entries(memory.metadata).filter(([k]) => k !== "tags"));
    item.replaceChildren(
      h("div", { class: "memory-head" },
        canWrite() && onChange === reloadList
          ? h("input", {
              type: "checkbox",
              "aria-label": `Select memory ${memory.id}`,
              checked: state.selected.has(memory.id),
              onchange: (event) => toggleSelected(memory.id, event.target.checked),
            })
          : null,
        score === undefined ? null : h("span", { class: "score", text: `score ${score.toFixed(3)}` }),
        h("code", { class: "id", text: memory.id }),
      ),
      h("p", { class: "text" }, ...highlighted(memory.text, match)),
      tags.length ? h("ul", { class: "tags", "aria-label": "Tags" }, tags.map((tag) => h("li", { text: String(tag) }))) : null,
      Object.keys(rest).length ? metadataList(rest) : null,
      h("p", { class: "dates" },
        `Created ${formatDate(memory.created_at)}`,
        memory.updated_at !== memory.created_at ? ` · updated ${formatDate(memory.updated_at)}` : "",
        memory.expires_at ? ` · expires ${formatDate(memory.expires_at)}` : "",
      ),
      h("div", { class: "actions" },
        h("button", { type: "button", onclick: () => showHistory(memory, item) }, "History"),
        canWrite() ? h("button", { type: "button", onclick: () => edit() }, "Edit") : null,
        canWrite() ? h("button", { type: "button", class: "danger", onclick: () => remove() }, "Delete") : null,
      ),
      h("div", { class: "history" }),
    );
  };

  const edit = async () => {
    // The current version and its ETag: the save is refused if someone changed it since.
    let etag;
    try {
      const { data, headers } = await api("GET", `/v1/memories/${memory.id}`);
      memory = data.data;
      etag = headers.get("ETag");
    } catch (failure) {
      say(failure.message);
      return;
    }
    const textId = `edit-text-${memory.id}`;
    const metadataId = `edit-metadata-${memory.id}`;
    const error = h("p", { class: "error", role: "alert" });
    const form = h("form", { class: "edit", "aria-label": `Edit memory ${memory.id}` },
      h("label", { for: textId, text: "Text" }),
      h("textarea", { id: textId, rows: 4, required: true }),
      h("label", { for: metadataId }, "Metadata ", h("span", { class: "hint", text: "(JSON object)" })),
      h("textarea", { id: metadataId, rows: 3, spellcheck: "false" }),
      h("div", { class: "actions" },
        h("button", { type: "submit" }, "Save"),
        h("button", { type: "button", onclick: () => { render(); item.querySelector("button")?.focus(); } }, "Cancel"),
      ),
      error,
    );
    form.querySelector("textarea").value = memory.text;
    form.querySelectorAll("textarea")[1].value = JSON.stringify(memory.metadata, null, 2);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      error.textContent = "";
      let metadata;
      try {
        metadata = parseJsonObject(form.querySelectorAll("textarea")[1].value, "Metadata");
      } catch (problem) {
        error.textContent = problem.message;
        return;
      }
      const text = form.querySelector("textarea").value;
      try {
        const { data } = await api("PUT", `/v1/memories/${memory.id}`, {
          body: { text, metadata },
          headers: etag ? { "If-Match": etag } : {},
        });
        memory = data.data;
        match = null;
        render();
        say("Saved.");
      } catch (failure) {
        error.textContent =
          failure.status === 412
            ? "This memory changed since you opened it: cancel, then edit it again."
            : failure.message;
      }
    });
    item.replaceChildren(form);
    form.querySelector("textarea").focus();
  };

  const remove = async () => {
    if (!(await confirmAction(`Delete this memory for good?\n\n${memory.text.slice(0, 200)}`))) return;
    try {
      await api("DELETE", `/v1/memories/${memory.id}`);
      state.selected.delete(memory.id);
      say("Deleted.");
      onChange();
    } catch (failure) {
      say(failure.message);
    }
  };

  render();
  return item;
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

async function showHistory(memory, item) {
  const box = item.querySelector(".history");
  if (box.childElementCount) {
    box.replaceChildren();
    return;
  }
  try {
    const { data } = await api("GET", `/v1/memories/${memory.id}/history`);
    box.replaceChildren(
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
  } catch (failure) {
    box.replaceChildren(h("p", { class: "error", role: "alert", text: failure.message }));
  }
}

// --- browsing -------------------------------------------------------------------------

function reloadList() {
  loadMemories();
}

async function loadMemories() {
  const query = new URLSearchParams({ page: state.page, per_page: PAGE_SIZE });
  try {
    const { data } = await api("GET", `/v1/memories?${query}`);
    const { total, total_pages: pages } = data.pagination;
    if (state.page > 1 && state.page > pages) {
      state.page = Math.max(pages, 1); // the last page emptied: show the one before
      return loadMemories();
    }
    state.totalPages = Math.max(pages, 1);
    $("memory-list").replaceChildren(
      ...data.data.map((memory) => memoryItem(memory, { onChange: reloadList })),
    );
    if (!data.data.length) $("memory-list").append(h("li", { class: "empty", text: "No memories in this workspace yet." }));
    $("list-count").textContent = `(${total})`;
    $("page-label").textContent = `Page ${state.page} of ${state.totalPages}`;
    $("previous-page").disabled = state.page <= 1;
    $("next-page").disabled = state.page >= state.totalPages;
    updateBulk();
  } catch (failure) {
    say(failure.message);
  }
}

function toggleSelected(id, on) {
  if (on) state.selected.add(id);
  else state.selected.delete(id);
  updateBulk();
}

function updateBulk() {
  const count = state.selected.size;
  $("delete-selected").disabled = count === 0;
  $("delete-selected").textContent = count ? `Delete selected (${count})` : "Delete selected";
}

async function deleteSelected() {
  const ids = [...state.selected];
  if (!ids.length) return;
  if (!(await confirmAction(`Delete ${ids.length} selected ${ids.length === 1 ? "memory" : "memories"} for good?`))) return;
  const failed = [];
  for (const id of ids) {
    try {
      await api("DELETE", `/v1/memories/${id}`);
      state.selected.delete(id);
    } catch (failure) {
      if (failure.status === 404) state.selected.delete(id); // gone already
      else failed.push(`${id}: ${failure.message}`);
    }
  }
  say(failed.length ? `Not deleted: ${failed.join("; ")}` : `Deleted ${ids.length}.`);
  loadMemories();
}

async function createMemory(event) {
  event.preventDefault();
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
    const { data } = await api("POST", "/v1/memories", { body: { text: $("new-text").value, metadata } });
    $("new-text").value = "";
    $("new-metadata").value = "";
    $("new-text").focus();
    say(data.duplicate ? "Not stored: this workspace holds that text already." : "Saved.");
    state.page = 1;
    loadMemories();
  } catch (failure) {
    error.textContent = failure.message;
  }
}

// --- searching ------------------------------------------------------------------------

function searchFilters() {
  const filters = parseJsonObject($("filter-json").value, "More filters");
  const tags = $("filter-tags").value.split(",").map((tag) => tag.trim()).filter(Boolean);
  if (tags.length) filters.tags = { ...(filters.tags || {}), any: tags };
  if ($("filter-type").value.trim()) filters.type = $("filter-type").value.trim();
  if ($("filter-source").value.trim()) filters.source = $("filter-source").value.trim();
  // Dates are the user's local days: from the start of "after"'s day, up to the end of "before"'s.
  if ($("filter-after").value) filters.created_after = new Date(`${$("filter-after").value}T00:00:00`).toISOString();
  if ($("filter-before").value) {
    const end = new Date(`${$("filter-before").value}T00:00:00`);
    end.setDate(end.getDate() + 1);
    filters.created_before = end.toISOString();
  }
  return filters;
}

async function search(event) {
  event.preventDefault();
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
    const { data } = await api("POST", "/v1/memories/search", { body });
    const results = data.data;
    $("search-results").replaceChildren(
      ...results.map((result) =>
        memoryItem(result, { score: result.score, chunk: result.best_chunk, onChange: () => search(new Event("submit")) }),
      ),
    );
    if (!results.length) $("search-results").append(h("li", { class: "empty", text: "Nothing found." }));
    say(`${results.length} ${results.length === 1 ? "result" : "results"} in ${Math.round(performance.now() - started)} ms.`);
  } catch (failure) {
    error.textContent = failure.message;
  }
}

// --- webhooks and stats ---------------------------------------------------------------

async function loadWebhooks() {
  const box = $("webhook-list");
  try {
    const { data } = await api("GET", "/api/v1/webhooks");
    if (!data.webhooks.length) {
      box.replaceChildren(h("p", { class: "empty", text: "No webhooks in this workspace." }));
      return;
    }
    box.replaceChildren(...data.webhooks.map(webhookCard));
  } catch (failure) {
    box.replaceChildren(h("p", { class: "error", role: "alert", text: failure.message }));
  }
}

function webhookCard(hook) {
  const deliveries = h("div", { class: "deliveries" });
  const card = h("article", { class: "card webhook", "aria-label": `Webhook ${hook.url}` },
    h("h3", {}, h("code", { text: hook.url })),
    h("p", {},
      hook.enabled ? "Enabled" : `Paused${hook.disabled_reason ? `: ${hook.disabled_reason}` : ""}`,
      ` · events ${hook.events.join(", ")}`,
      hook.description ? ` · ${hook.description}` : "",
    ),
    deliveries,
  );
  api("GET", `/api/v1/webhooks/${encodeURIComponent(hook.id)}/deliveries?limit=20`)
    .then(({ data }) => {
      if (!data.deliveries.length) {
        deliveries.replaceChildren(h("p", { class: "hint", text: "No delivery attempts yet." }));
        return;
      }
      deliveries.replaceChildren(
        h("div", { class: "scroll" },
          h("table", {},
            h("caption", { text: "Latest delivery attempts" }),
            h("thead", {}, h("tr", {}, ["When", "Event", "Attempt", "Outcome", "Status", "Error", "Next retry"].map((name) => h("th", { scope: "col", text: name })))),
            h("tbody", {},
              data.deliveries.map((attempt) =>
                h("tr", { class: attempt.outcome },
                  h("td", { text: formatDate(attempt.attempted_at) }),
                  h("td", { text: attempt.event_type }),
                  h("td", { text: attempt.attempt }),
                  h("td", { text: attempt.outcome }),
                  h("td", { text: attempt.status_code ?? "" }),
                  h("td", { text: attempt.error ?? "" }),
                  h("td", { text: formatDate(attempt.next_retry_at) }),
                ),
              ),
            ),
          ),
        ),
      );
    })
    .catch((failure) => deliveries.replaceChildren(h("p", { class: "error", text: failure.message })));
  return card;
}

async function loadStats() {
  const box = $("stats");
  try {
    const { data } = await api("GET", "/api/v1/memory/stats");
    box.replaceChildren(
      h("dl", { class: "figures" },
        h("dt", { text: "This workspace" }), h("dd", { text: data.workspace }),
        h("dt", { text: "Memories" }), h("dd", { text: data.memories }),
        h("dt", { text: "Chunks" }), h("dd", { text: data.chunks }),
        h("dt", { text: "Oldest" }), h("dd", { text: formatDate(data.oldest_created_at) || "-" }),
        h("dt", { text: "Last change" }), h("dd", { text: formatDate(data.last_updated_at) || "-" }),
      ),
      h("div", { class: "scroll" },
        h("table", {},
          h("caption", { text: `All workspaces of ${state.key.owner} this key may use: ${data.owner.memories} memories` }),
          h("thead", {}, h("tr", {}, ["Workspace", "Memories", "Chunks", "Last change"].map((name) => h("th", { scope: "col", text: name })))),
          h("tbody", {},
            data.owner.workspaces.map((workspace) =>
              h("tr", {},
                h("td", { text: workspace.workspace }),
                h("td", { text: workspace.memories }),
                h("td", { text: workspace.chunks }),
                h("td", { text: formatDate(workspace.last_updated_at) }),
              ),
            ),
          ),
        ),
      ),
    );
  } catch (failure) {
    box.replaceChildren(h("p", { class: "error", role: "alert", text: failure.message }));
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
  $("previous-page").addEventListener("click", () => { state.page -= 1; loadMemories(); });
  $("next-page").addEventListener("click", () => { state.page += 1; loadMemories(); });
  for (const tab of TABS) {
    $(tab).addEventListener("click", () => selectTab(tab));
    $(tab).addEventListener("keydown", onTabKey);
  }
  const key = sessionStorage.getItem(KEY);
  if (!key) {
    $("api-key").focus();
    return;
  }
  // A reload of a signed-in tab: check the key again, it may have been revoked since.
  api("GET", "/v1/key", { key, workspace: currentWorkspace() })
    .then(({ data }) => enter(data.data))
    .catch((failure) => signOut(failure.status === 401 ? "Your API key is no longer accepted. Sign in again." : failure.message));
}

start();
