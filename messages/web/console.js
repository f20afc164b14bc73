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

function show(replies) {
  for (const r of replies) {
    if (r.type === "text") row(false, el("div", { class: "bubble", text: r.text }));
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

async function click(taskId, key, questionKey, box) {
  const selected = {};
  if (questionKey) {
    const picked = box.querySelector("input[type=radio]:checked");
    if (picked) selected[questionKey] = picked.value;
  }
  box.querySelectorAll("button").forEach((b) => { b.disabled = true; });
  try {
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
    show((await post("/console/api/send", { ...identity(), text })).replies);
  } catch (e) {
    row(false, el("div", { class: "bubble error", text: e.message }));
  }
});

$("#text").addEventListener("keydown", (ev) => {
  if (ev.key === "Enter" && !ev.shiftKey) { ev.preventDefault(); $("#composer").requestSubmit(); }
});

(async () => {
  const staff = await (await fetch("/console/api/staff")).json();
  const ROLE = { sales: "销售", manager: "经理", warehouse: "仓库", finance: "财务", admin: "管理员" };
  for (const s of staff) {
    $("#who").append(el("option", { value: s.userid, "data-name": s.name, text: `${s.name}（${ROLE[s.role] || s.role}）` }));
  }
})();
