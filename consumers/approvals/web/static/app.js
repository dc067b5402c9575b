// The approver page. Every piece of text from the server (tool inputs, titles, names: attacker-
// controlled) goes into the DOM as text nodes or `textContent`, never as HTML.
"use strict";

(() => {
  const meta = (name) => document.querySelector(`meta[name="${name}"]`).content;
  const csrf = meta("csrf-token");
  const reasons = JSON.parse(meta("canned-reasons"));
  const $ = (id) => document.getElementById(id);
  const items = new Map(); // tool_use_id -> {entry, el, status, busy, done}
  let selected = null;
  let skew = 0; // server clock minus ours, seconds
  let me = "";
  const FOLD_CHARS = 400;
  const FOLD_LINES = 8;

  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (key === "class") node.className = value;
      else if (key.startsWith("data-")) node.setAttribute(key, value);
      else node[key] = value;
    }
    for (const child of children) {
      if (child !== null && child !== undefined) node.append(child); // strings become text
    }
    return node;
  }

  const now = () => Date.now() / 1000 + skew;

  function duration(secs) {
    const s = Math.max(0, Math.round(secs));
    if (s < 60) return `${s}s`;
    if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
    return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  }

  // ------------------------------------------------------------------ tool inputs, readably
  function block(text, kind) {
    const lines = text.split("\n").length;
    const pre = el("pre", { class: `value ${kind}` }, el("code", {}, text));
    if (text.length <= FOLD_CHARS && lines <= FOLD_LINES) return pre;
    const head = text.split("\n").slice(0, 3).join("\n").slice(0, 240);
    return el("details", { class: "fold" },
      el("summary", {}, el("code", {}, `${head} …`),
        el("span", { class: "size" }, ` (${text.length.toLocaleString()} chars, ${lines} lines)`)),
      pre);
  }

  function field(label, node) {
    return el("div", { class: "field" }, el("span", { class: "label" }, label), node);
  }

  function urlNode(url) {
    let host = "";
    try { host = new URL(url).host; } catch (_) { host = ""; }
    return el("span", { class: "url" }, el("code", {}, url),
      host ? el("span", { class: "host" }, `host ${host}`) : null);
  }

  function renderInput(preview) {
    const box = el("div", { class: "input" });
    let value;
    try {
      value = JSON.parse(preview);
    } catch (_) {
      box.append(block(String(preview), "raw"),
        el("p", { class: "note" }, "Input cut at 2,000 characters (the audit trail has its digest)."));
      return box;
    }
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      box.append(block(JSON.stringify(value, null, 2), "json"));
      return box;
    }
    const rest = { ...value };
    const take = (key) => { const v = rest[key]; delete rest[key]; return v; };
    if (typeof value.command === "string") box.append(field("command", block(take("command"), "shell")));
    for (const key of ["file_path", "path", "notebook_path"]) {
      if (typeof value[key] === "string") box.append(field(key.replace("_", " "), el("code", { class: "path" }, take(key))));
    }
    if (typeof value.url === "string") box.append(field("url", urlNode(take("url"))));
    for (const [key, v] of Object.entries(rest)) {
      const text = typeof v === "string" ? v : JSON.stringify(v, null, 2);
      box.append(field(key, block(text, typeof v === "string" ? "text" : "json")));
    }
    return box;
  }

  // ------------------------------------------------------------------ one escalation
  function why(entry) {
    if (entry.decided_note) return `escalated: ${entry.decided_note}`;
    if (entry.rule) return `ask rule matched: ${entry.rule}`;
    return "no rule matched (the policy's default is ask)";
  }

  function sessionLine(entry) {
    const s = entry.session || {};
    const line = el("div", { class: "session" },
      el("span", { class: "title" }, s.title || "untitled session"),
      el("code", { class: "sid" }, entry.session_id));
    if (entry.thread_id) line.append(el("span", { class: "chip" }, `thread ${entry.thread_id}`));
    const agent = s.agent || entry.agent_id;
    if (agent) line.append(el("span", { class: "chip" }, `agent ${agent}`));
    for (const [k, v] of Object.entries(s.metadata || {})) line.append(el("span", { class: "chip" }, `${k}=${v}`));
    return line;
  }

  function denyPanel(id) {
    const text = el("textarea", { class: "message", rows: 2, placeholder: "Message to the agent (Enter sends)" });
    text.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter" && !ev.shiftKey) { ev.preventDefault(); decide(id, "deny", text.value.trim()); }
      if (ev.key === "Escape") { ev.preventDefault(); closeDeny(id); }
    });
    const canned = reasons.map((reason) => el("button", { type: "button", class: "reason",
      onclick: () => decide(id, "deny", reason) }, reason));
    return el("div", { class: "deny-panel", hidden: true },
      el("div", { class: "reasons" }, ...canned), text,
      el("div", { class: "row" },
        el("button", { type: "button", class: "send-deny", onclick: () => decide(id, "deny", text.value.trim()) }, "Deny with this message"),
        el("button", { type: "button", class: "cancel", onclick: () => closeDeny(id) }, "Cancel")));
  }

  function card(entry) {
    const id = entry.tool_use_id;
    const node = el("li", { class: "item", id: `item-${id}`, "data-id": id, tabIndex: -1 },
      el("div", { class: "head" },
        el("span", { class: "tool" }, entry.tool),
        el("span", { class: "clock waited" }),
        el("span", { class: "clock deadline" })),
      sessionLine(entry),
      el("div", { class: "why" }, why(entry)),
      entry.rule && entry.reason ? el("div", { class: "reason-text" }, entry.reason) : null,
      renderInput(entry.input_preview),
      el("div", { class: "actions" },
        el("button", { type: "button", class: "allow", onclick: () => decide(id, "allow", "") }, "Allow"),
        el("button", { type: "button", class: "deny", onclick: () => openDeny(id) }, "Deny…")),
      denyPanel(id),
      el("div", { class: "status", role: "status" }));
    node.addEventListener("click", () => select(id));
    return node;
  }

  function tick() {
    const t = now();
    for (const item of items.values()) {
      item.el.querySelector(".waited").textContent = `waiting ${duration(t - item.entry.seen_at)}`;
      const left = item.entry.deadline - t;
      item.el.querySelector(".deadline").textContent = item.entry.deadline
        ? (left > 0 ? `times out in ${duration(left)}` : "timing out") : "";
    }
  }

  // ------------------------------------------------------------------ the list
  function ordered() {
    return [...items.values()].sort((a, b) => a.entry.seen_at - b.entry.seen_at);
  }

  function redraw() {
    const list = $("items");
    const sorted = ordered();
    sorted.forEach((item, index) => {
      if (list.children[index] !== item.el) list.insertBefore(item.el, list.children[index] || null);
    });
    const open = sorted.filter((item) => !item.done).length;
    $("count").textContent = String(open);
    $("empty").hidden = sorted.length > 0;
    document.title = open ? `(${open}) Approvals` : "Approvals";
    if (!selected || !items.has(selected)) {
      const first = sorted.find((item) => !item.done);
      if (first) select(first.entry.tool_use_id, false);
    }
    tick();
  }

  function upsert(entry) {
    const known = items.get(entry.tool_use_id);
    if (known) return;
    items.set(entry.tool_use_id, { entry, el: card(entry), busy: false, done: false });
    redraw();
  }

  function removeItem(id) {
    const item = items.get(id);
    if (!item) return;
    item.el.remove();
    items.delete(id);
    if (selected === id) { selected = null; }
    redraw();
  }

  function setStatus(item, text) {
    item.el.querySelector(".status").textContent = text;
  }

  function settle(id, text, kind) {
    const item = items.get(id);
    if (!item || item.done) return;
    item.done = true;
    item.el.classList.add("done", kind);
    for (const button of item.el.querySelectorAll("button, textarea")) button.disabled = true;
    setStatus(item, text);
    if (selected === id) move(1);
    setTimeout(() => removeItem(id), kind === "mine" ? 1500 : 8000);
    redraw();
  }

  function select(id, focus = true) {
    if (selected && items.has(selected)) items.get(selected).el.classList.remove("selected");
    selected = id;
    const item = items.get(id);
    if (!item) return;
    item.el.classList.add("selected");
    if (focus) item.el.scrollIntoView({ block: "nearest" });
  }

  function move(step) {
    const open = ordered().filter((item) => !item.done || item.entry.tool_use_id === selected);
    if (!open.length) return;
    let index = open.findIndex((item) => item.entry.tool_use_id === selected);
    index = index < 0 ? 0 : Math.min(open.length - 1, Math.max(0, index + step));
    const next = open[index];
    if (next.done && open.length > 1) return select(open[Math.max(0, index - 1)].entry.tool_use_id);
    select(next.entry.tool_use_id);
  }

  function openDeny(id) {
    const item = items.get(id);
    if (!item || item.done) return;
    select(id);
    const panel = item.el.querySelector(".deny-panel");
    panel.hidden = false;
    panel.querySelector("textarea").focus();
  }

  function closeDeny(id) {
    const item = items.get(id);
    if (!item) return;
    item.el.querySelector(".deny-panel").hidden = true;
    item.el.focus();
  }

  async function decide(id, decision, message) {
    const item = items.get(id);
    if (!item || item.busy || item.done) return;
    item.busy = true;
    setStatus(item, "sending…");
    let response;
    let body = {};
    try {
      response = await fetch(`/ui/api/decide/${encodeURIComponent(id)}`, {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
        body: JSON.stringify({ decision, message }),
      });
      body = await response.json().catch(() => ({}));
    } catch (_) {
      item.busy = false;
      setStatus(item, "Not sent: the bot is unreachable. Try again.");
      return;
    }
    if (response.status === 202) {
      settle(id, decision === "allow" ? "Allowed by you" : "Denied by you", "mine");
    } else if (response.status === 409) {
      settle(id, `Already decided by ${(body.error || {}).decided_by || "someone else"}`, "other");
    } else {
      item.busy = false;
      setStatus(item, `Not sent: ${(body.error || {}).message || response.status}`);
    }
  }

  // ------------------------------------------------------------------ keyboard
  document.addEventListener("keydown", (ev) => {
    const target = ev.target;
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    if (target instanceof HTMLElement && target.matches("input, textarea, select")) return;
    if ($("inbox").hidden) return;
    const actions = {
      j: () => move(1), k: () => move(-1),
      a: () => selected && decide(selected, "allow", ""),
      d: () => selected && openDeny(selected),
      Escape: () => selected && closeDeny(selected),
    };
    if (actions[ev.key]) { ev.preventDefault(); actions[ev.key](); }
  });

  // ------------------------------------------------------------------ the live stream
  function connect() {
    const stream = new EventSource("/ui/api/stream");
    stream.onopen = () => { $("conn").textContent = "live"; $("conn").className = "conn live"; };
    stream.onerror = () => {
      $("conn").textContent = "reconnecting";
      $("conn").className = "conn down";
      // Signed out meanwhile (the cookie expired, the token was rotated): show the sign-in form.
      fetch("/ui/api/history?session=-", { credentials: "same-origin" })
        .then((response) => { if (response.status === 401) window.location.reload(); })
        .catch(() => {});
    };
    stream.addEventListener("snapshot", (ev) => {
      const data = JSON.parse(ev.data);
      skew = data.now - Date.now() / 1000;
      me = data.me;
      const fresh = new Set(data.items.map((e) => e.tool_use_id));
      for (const [id, item] of items) if (!fresh.has(id) && !item.done) removeItem(id);
      data.items.forEach(upsert);
      redraw();
    });
    stream.addEventListener("upsert", (ev) => upsert(JSON.parse(ev.data)));
    stream.addEventListener("remove", (ev) => {
      const data = JSON.parse(ev.data);
      const mine = data.decided_by === `human:${me}`;
      settle(data.tool_use_id, mine ? "Decided by you" : `Already decided by ${data.decided_by}`, mine ? "mine" : "other");
    });
    stream.addEventListener("audit", (ev) => addHistory(JSON.parse(ev.data), true));
  }

  // ------------------------------------------------------------------ history
  function filters() {
    const form = $("history-filter");
    return { session: form.session.value.trim(), decision: form.decision.value };
  }

  function historyRow(r) {
    const when = new Date(r.at * 1000);
    return el("tr", { class: `decision-${r.decision}` },
      el("td", { title: when.toISOString() }, when.toLocaleTimeString()),
      el("td", {}, String(r.decision ?? "")), el("td", {}, String(r.outcome ?? "")),
      el("td", {}, String(r.tool ?? "")), el("td", {}, el("code", {}, String(r.session_id ?? ""))),
      el("td", {}, String(r.decided_by ?? "")), el("td", {}, duration((r.wait_ms || 0) / 1000)),
      el("td", {}, String(r.policy_version ?? "")),
      el("td", {}, [r.rule, r.decided_note].filter(Boolean).join(" · ")));
  }

  function addHistory(record, live) {
    const f = filters();
    if (f.session && !String(record.session_id).startsWith(f.session)) return;
    if (f.decision && record.decision !== f.decision) return;
    const rows = $("history-rows");
    rows.insertBefore(historyRow(record), live ? rows.firstChild : null);
    while (rows.children.length > 500) rows.lastChild.remove();
  }

  async function loadHistory() {
    const query = new URLSearchParams(filters());
    const response = await fetch(`/ui/api/history?${query}`, { credentials: "same-origin" });
    const body = await response.json().catch(() => ({ data: [] }));
    $("history-rows").replaceChildren();
    for (const record of body.data || []) addHistory(record, false);
  }

  function show(tab) {
    $("inbox").hidden = tab !== "inbox";
    $("history").hidden = tab !== "history";
    $("tab-inbox").classList.toggle("active", tab === "inbox");
    $("tab-history").classList.toggle("active", tab === "history");
    if (tab === "history") loadHistory();
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("tab-inbox").addEventListener("click", () => show("inbox"));
    $("tab-history").addEventListener("click", () => show("history"));
    $("history-filter").addEventListener("submit", (ev) => { ev.preventDefault(); loadHistory(); });
    connect();
    setInterval(tick, 1000);
  });
})();
