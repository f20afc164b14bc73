// Local chat console: renders the bot's replies the way WeCom shows template cards.
"use strict";
const $ = (sel) => document.querySelector(sel);
const log = $("#log");
const LEVEL = /｜(充足|紧张|不足)\((\d+)\)$/;

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v; else if (k === "text") node.textContent = v;
    else node.setAttribute(k, v);
  }
  for (const c of children) if (c) node.append(c);
  return node;
}

function row(mine, content) {
  const who = $("#who").selectedOptions[0];
  const avatar = el("div", { class: "avatar", text: mine ? (who ? who.dataset.name.slice(-2) : "我") : "履约" });
  const r = el("div", { class: "row" + (mine ? " me" : "") }, avatar, content);
  log.append(r);
  log.scrollTop = log.scrollHeight;
  return r;
}

function lineValue(value) {
  const m = LEVEL.exec(value);
  if (!m) return document.createTextNode(value);
  const span = el("span", {}, value.slice(0, m.index) + "｜");
  span.append(el("span", { class: "level-" + m[1], text: `${m[1]}(${m[2]})` }));
  return span;
}

function renderCard(card) {
  const box = el("div", { class: "card", "data-task": card.task_id || "" });
  if (card.source) box.append(el("div", { class: "src", text: card.source.desc || "" }));
  if (card.main_title) {
    box.append(el("div", { class: "title", text: card.main_title.title || "" }));
    if (card.main_title.desc) box.append(el("div", { class: "desc", text: card.main_title.desc }));
  }
  if (card.sub_title_text) box.append(el("div", { class: "sub", text: card.sub_title_text }));
  if (card.horizontal_content_list) {
    const dl = el("dl");
    for (const item of card.horizontal_content_list) {
      dl.append(el("dt", { text: item.keyname }), el("dd", {}, lineValue(item.value || "")));
    }
    box.append(dl);
  }
  if (card.quote_area) box.append(el("div", { class: "quote", text: card.quote_area.quote_text || "" }));
  let choice = null;
  if (card.button_selection) {
    const sel = card.button_selection;
    const opts = el("div", { class: "options" });
    for (const o of sel.option_list) {
      const id = `${card.task_id}-${o.id}`;
      opts.append(el("label", { for: id },
        el("input", { type: "radio", name: card.task_id, value: o.id, id }), " " + o.text));
    }
    box.append(opts);
    choice = sel.question_key;
  }
  const buttons = el("div", { class: "buttons" });
  for (const b of card.button_list || []) {
    const btn = el("button", { class: "style-" + (b.style || 2), type: "button", text: b.text });
    btn.addEventListener("click", () => click(card.task_id, b.key, choice, box));
    buttons.append(btn);
  }
  box.append(buttons);
  return box;
}

const URL_RE = /https?:\/\/[^\s，。；）)]+/g;

// A text bubble whose web addresses are links (the tracking link to forward, the dashboard).
function linked(text, cls) {
  const box = el("div", { class: cls });
  let last = 0;
  for (const m of text.matchAll(URL_RE)) {
    box.append(document.createTextNode(text.slice(last, m.index)));
    box.append(el("a", { href: m[0], target: "_blank", rel: "noopener", text: m[0] }));
    last = m.index + m[0].length;
  }
  box.append(document.createTextNode(text.slice(last)));
  return box;
}

function show(replies) {
  for (const r of replies) {
    if (r.type === "text") row(false, linked(r.text, "bubble"));
    else if (r.type === "card") row(false, renderCard(r.card));
    else if (r.type === "update") {
      const old = log.querySelector(`.card[data-task="${CSS.escape(r.task_id)}"]`);
      if (old) old.replaceWith(renderCard(r.card)); else row(false, renderCard(r.card));
    }
  }
}

function identity() {
  return { user_id: $("#who").value, chat_type: $("#chat").value };
}

async function post(path, body) {
  const resp = await fetch(path, { method: "POST", headers: { "Content-Type": "application/json" },
                                   body: JSON.stringify(body) });
  const data = await resp.json();
  if (!resp.ok) throw new Error((data.errors && data.errors[0] && data.errors[0].message) || data.title);
  return data;
}

// The server acts as the staff member picked here only after this (a signed session cookie).
let sessionFor = null;
async function ensureSession() {
  const who = $("#who").value;
  if (sessionFor === who) return;
  await post("/console/api/session", { user_id: who });
  sessionFor = who;
}

async function click(taskId, key, questionKey, box) {
  const selected = {};
  if (questionKey) {
    const picked = box.querySelector("input[type=radio]:checked");
    if (picked) selected[questionKey] = picked.value;
  }
  box.querySelectorAll("button").forEach((b) => { b.disabled = true; });
  try {
    await ensureSession();
    show((await post("/console/api/click", { ...identity(), task_id: taskId, key, selected })).replies);
  } catch (e) {
    row(false, el("div", { class: "bubble error", text: e.message }));
  } finally {
    box.querySelectorAll("button").forEach((b) => { b.disabled = false; });
  }
}

$("#composer").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const text = $("#text").value.trim();
  if (!text) return;
  row(true, el("div", { class: "bubble", text }));
  $("#text").value = "";
  try {
    await ensureSession();
    show((await post("/console/api/send", { ...identity(), text })).replies);
  } catch (e) {
    row(false, el("div", { class: "bubble error", text: e.message }));
  }
});

// A spreadsheet order, as a file message in WeCom: one card per customer comes back.
$("#sheet").addEventListener("change", async (ev) => {
  const file = ev.target.files[0];
  ev.target.value = "";
  if (!file) return;
  row(true, el("div", { class: "bubble", text: `[表格] ${file.name}` }));
  try {
    const bytes = new Uint8Array(await file.arrayBuffer());
    let bin = "";
    for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
    await ensureSession();
    show((await post("/console/api/upload", { ...identity(), name: file.name, data: btoa(bin) })).replies);
  } catch (e) {
    row(false, el("div", { class: "bubble error", text: e.message }));
  }
});

$("#text").addEventListener("keydown", (ev) => {
  if (ev.key === "Enter" && !ev.shiftKey) { ev.preventDefault(); $("#composer").requestSubmit(); }
});

(async () => {
  const staff = await (await fetch("/console/api/staff")).json();
  for (const s of staff) {
    $("#who").append(el("option", { value: s.userid, "data-name": s.name, text: `${s.name}（${s.role_zh || s.role}）` }));
  }
  // Open as a salesperson: the example in the box is what a salesperson types.
  const sales = staff.find((s) => s.role === "sales");
  if (sales) $("#who").value = sales.userid;
})();

// ---- 通知: the outbox (pending, sending, sent, dead with the reason; retry a dead letter) ----
const REFRESH_MS = 3000;
const outbox = { status: "", channel: "", loading: false, tick: 0 };

const CHINA_TIME = new Intl.DateTimeFormat("en-CA", { timeZone: "Asia/Shanghai", month: "numeric", day: "numeric",
                                                      hour: "2-digit", minute: "2-digit", second: "2-digit",
                                                      hourCycle: "h23" });

function when(iso, withDate = true) {  // China time, as the bot writes it: 11月26日 15:00:00
  if (!iso) return "";
  const p = Object.fromEntries(CHINA_TIME.formatToParts(new Date(iso)).map((x) => [x.type, x.value]));
  const time = `${p.hour}:${p.minute}:${p.second}`;
  return withDate ? `${p.month}月${p.day}日 ${time}` : time;
}

function plain(text) {  // WeCom text cards carry a little HTML; show what a person reads
  return text.replace(/<\/div>\s*/g, "\n").replace(/<[^>]*>/g, "").trim();
}

function showTab(name) {
  const onOutbox = name === "outbox";
  $("#chat-view").hidden = onOutbox;
  $("#outbox").hidden = !onOutbox;
  document.body.classList.toggle("outbox-mode", onOutbox);
  $("#tab-chat").setAttribute("aria-selected", String(!onOutbox));
  $("#tab-outbox").setAttribute("aria-selected", String(onOutbox));
  if (onOutbox) loadOutbox();
}

function renderChips(counts, names) {  // names: the server's words (bot/domain/vocab.py)
  const total = Object.values(counts).reduce((a, b) => a + b, 0);
  const statuses = [["", "全部"], ...Object.entries(names)];
  $("#chips").replaceChildren(...statuses.map(([value, label]) => {
    const n = value ? counts[value] || 0 : total;
    const alarm = value === "dead" && n > 0 ? " alarm" : "";
    const chip = el("button", { type: "button", class: `chip chip-${value || "all"}${alarm}`, "data-status": value,
                                "aria-pressed": String(outbox.status === value) },
                    label, el("span", { class: "count", text: String(n) }));
    chip.addEventListener("click", () => { outbox.status = value; loadOutbox(); });
    return chip;
  }));
}

function renderChannels(names) {
  const sel = $("#channel");
  for (const [code, label] of Object.entries(names)) {
    if (!sel.querySelector(`option[value="${CSS.escape(code)}"]`)) sel.append(el("option", { value: code, text: label }));
  }
}

function renderNote(r) {
  const head = el("div", { class: "head" },
    el("span", { class: `tag tag-${r.status}`, text: r.status_zh }),
    el("b", { text: r.event_zh }),
    el("span", { class: "to", text: `${r.channel_zh} → ${r.recipient}` }),
    r.order_no ? el("span", { class: "order", text: `订单 ${r.order_no}` }) : null,
    el("span", { class: "time", text: when(r.sent_at || r.created_at) }));
  const note = el("article", { class: `note note-${r.status}`, "data-id": String(r.id) }, head);
  if (r.text) note.append(el("div", { class: "text", text: plain(r.text) }));
  if (r.status === "dead") {
    note.append(el("div", { class: "reason", text: `原因：${r.error || "未知"}` }));
  } else if (r.error && r.status !== "sent") {
    note.append(el("div", { class: "last-error", text: `上次失败：${r.error}` }));
  }
  const meta = [`#${r.id}`, `尝试${r.attempts}次`, r.template];
  if (r.status === "pending" && r.next_attempt_at) meta.push(`计划 ${when(r.next_attempt_at)} 发送`);
  const foot = el("div", { class: "foot" }, el("span", { class: "meta", text: meta.join(" · ") }));
  if (r.link && /^https?:\/\//.test(r.link)) {
    foot.append(el("a", { class: "link", href: r.link, target: "_blank", rel: "noopener noreferrer",
                          text: "打开跟踪页" }));
  }
  if (r.status === "dead") {
    const btn = el("button", { type: "button", class: "retry", text: "重试" });
    btn.addEventListener("click", () => retryNote(r.id, btn, note));
    foot.append(btn);
  }
  note.append(foot);
  return note;
}

function renderBadge(counts) {
  const badge = $("#dead-badge");
  badge.textContent = String(counts.dead || 0);
  badge.hidden = !counts.dead;
}

async function loadOutbox() {
  if (outbox.loading) return;
  outbox.loading = true;
  try {
    const q = new URLSearchParams({ limit: "100" });
    if (outbox.status) q.set("status", outbox.status);
    if (outbox.channel) q.set("channel", outbox.channel);
    const resp = await fetch(`/console/api/outbox?${q}`);
    const data = await resp.json();
    if (!resp.ok) throw new Error((data.errors && data.errors[0] && data.errors[0].message) || data.title);
    renderChips(data.counts, data.status_zh);
    renderChannels(data.channel_zh);
    if (!outbox.channel) renderBadge(data.counts);
    const notes = data.rows.map(renderNote);
    $("#notes").replaceChildren(...(notes.length ? notes : [el("p", { class: "empty", text: "没有通知" })]));
    $("#refreshed").textContent = `更新于 ${when(new Date().toISOString(), false)}`;
  } catch (e) {
    $("#refreshed").textContent = `刷新失败：${e.message}`;
  } finally {
    outbox.loading = false;
  }
}

async function loadBadge() {
  try {
    const resp = await fetch("/console/api/outbox?limit=0");
    if (resp.ok) renderBadge((await resp.json()).counts);
  } catch (e) { /* the next tick tries again */ }
}

async function retryNote(id, btn, note) {
  btn.disabled = true;
  btn.textContent = "重试中…";
  try {
    await post(`/console/api/outbox/${id}/retry`, {});
  } catch (e) {
    btn.disabled = false;
    btn.textContent = "重试";
    note.append(el("div", { class: "reason", text: `重试失败：${e.message}` }));
    return;
  }
  await loadOutbox();
}

$("#tab-chat").addEventListener("click", () => showTab("chat"));
$("#tab-outbox").addEventListener("click", () => showTab("outbox"));
$("#channel").addEventListener("change", (ev) => { outbox.channel = ev.target.value; loadOutbox(); });
setInterval(() => {  // refresh while someone looks: the list when open, else now and then the badge
  if (document.hidden) return;
  outbox.tick += 1;
  if (!$("#outbox").hidden) loadOutbox();
  else if (outbox.tick % 5 === 0) loadBadge();
}, REFRESH_MS);
loadBadge();
