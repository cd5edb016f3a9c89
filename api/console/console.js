// The console: operators (budgets, rounds, queue, indexer, reconcile) and auditors (an account's
// trail verified in the browser). The API key lives in `state.key` only: never in storage.
import { verifyTrail } from "./hashchain.js";
import { TEXTS, format } from "./i18n.js";

const state = { key: null, lang: navigator.language?.startsWith("en") ? "en" : "ko" };
const $ = (sel) => document.querySelector(sel);
const t = (k, values) => format(TEXTS[state.lang][k] ?? k, values ?? {});
const won = (n) => Number(n).toLocaleString(state.lang === "ko" ? "ko-KR" : "en-US");

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v; else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}

async function api(path) {
  const resp = await fetch(path, { headers: { Authorization: `Bearer ${state.key}` } });
  const body = await resp.json().catch(() => ({}));
  if (!resp.ok) {
    const err = new Error(body.message || `HTTP ${resp.status}`);
    err.status = resp.status;
    throw err;
  }
  return body;
}

function applyTexts() {
  document.documentElement.lang = state.lang;
  document.querySelectorAll("[data-i18n]").forEach((n) => { n.textContent = t(n.dataset.i18n); });
  $("#lang").textContent = state.lang === "ko" ? "English" : "한국어";
  document.title = t("title");
}

function route() {
  const page = location.hash === "#/auditor" ? "auditor" : "operator";
  $("#signin").hidden = state.key !== null;
  $("#signout").hidden = state.key === null;
  $("#operator").hidden = state.key === null || page !== "operator";
  $("#auditor").hidden = state.key === null || page !== "auditor";
  if (state.key !== null && page === "operator") loadOperator();
}

// --- operators ---------------------------------------------------------------------------------
function budgetChart(budgets) {
  const NS = "http://www.w3.org/2000/svg";
  const rowH = 34, left = 130, width = 620, barW = width - left - 90;
  const max = Math.max(1, ...budgets.map((b) => Math.max(b.budget, b.issued)));
  const svg = document.createElementNS(NS, "svg");
  svg.setAttribute("width", String(width));
  svg.setAttribute("height", String(budgets.length * rowH + 24));
  svg.setAttribute("role", "img");
  const add = (tag, attrs, text) => {
    const n = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, String(v));
    if (text !== undefined) n.textContent = text;
    svg.append(n);
    return n;
  };
  budgets.forEach((b, i) => {
    const y = i * rowH + 4;
    add("text", { x: 0, y: y + 18 }, b.program);
    add("rect", { x: left, y, width: (b.budget / max) * barW, height: 12, fill: "#a5d6a7" });
    add("rect", { x: left, y: y + 14, width: (b.issued / max) * barW, height: 12,
      fill: "#2e7d32", "data-program": b.program, "data-issued": b.issued });
    add("text", { x: left + barW + 6, y: y + 24 },
      b.execution_pct === null ? "–" : `${b.execution_pct.toFixed(4)} %`);
  });
  const ly = budgets.length * rowH + 16;
  add("rect", { x: left, y: ly - 9, width: 10, height: 10, fill: "#a5d6a7" });
  add("text", { x: left + 14, y: ly }, t("legend_budget"));
  add("rect", { x: left + 90, y: ly - 9, width: 10, height: 10, fill: "#2e7d32" });
  add("text", { x: left + 104, y: ly }, t("legend_issued"));
  return svg;
}

async function loadOperator() {
  $("#op-error").textContent = "";
  let s;
  try {
    s = await api("/v1/operator/summary");
  } catch (err) {
    $("#op-error").textContent = err.status === 403 ? t("forbidden", { msg: err.message }) : err.message;
    return;
  }
  $("#op-year").textContent = s.fiscal_year;
  $("#op-anchor").textContent = t("anchor", { block: s.anchor.block_number, hash: s.anchor.block_hash });
  $("#budget-chart").replaceChildren(budgetChart(s.budgets));
  $("#budgets tbody").replaceChildren(...s.budgets.map((b) => el("tr", { "data-program": b.program },
    el("td", {}, b.program),
    el("td", { class: "num", "data-field": "budget" }, won(b.budget)),
    el("td", { class: "num", "data-field": "issued" }, won(b.issued)),
    el("td", { class: "num", "data-field": "execution" },
      b.execution_pct === null ? "–" : `${b.execution_pct.toFixed(4)} %`))));
  $("#rounds tbody").replaceChildren(...s.rounds.map((r) => el("tr", { "data-round": r.id },
    el("td", {}, r.program), el("td", { class: "mono" }, r.source),
    el("td", {}, new Date(r.imported_at).toLocaleString(state.lang)),
    el("td", { class: "num", "data-field": "awarded" }, r.awarded),
    el("td", { class: "num", "data-field": "awarded_amount" }, won(r.awarded_amount)),
    el("td", { class: "num", "data-field": "rejected" }, r.rejected),
    el("td", { class: "num", "data-field": "failed" }, r.failed),
    el("td", { class: "num", "data-field": "pending" }, r.pending))));
  const dl = (pairs) => pairs.flatMap(([k, v, f]) => [el("dt", {}, k), el("dd", { "data-field": f }, v)]);
  const q = s.queue;
  $("#queue").replaceChildren(...dl([
    ...Object.entries(q.awards).map(([st, n]) => [`${t("awards")}: ${st}`, n, `awards-${st}`]),
    ...Object.entries(q.operations).map(([st, n]) => [`${t("operations")}: ${st}`, n, `operations-${st}`]),
    [t("oldest"), q.oldest_waiting_age_s === null ? t("none")
      : t("seconds", { n: Math.round(q.oldest_waiting_age_s) }), "oldest"],
  ]));
  $("#indexer").replaceChildren(...dl([
    [t("cursor"), s.indexer.cursor_block ?? "–", "cursor"],
    [t("chain_head"), s.indexer.chain_head, "head"],
    [t("lag"), s.indexer.lag_blocks ?? "–", "lag"],
  ]));
  const rec = s.last_reconcile;
  $("#reconcile").textContent = rec === null ? t("no_reconcile")
    : `${rec.verdict === "ok" ? t("reconcile_ok") : t("reconcile_bad")} · ${rec.summary}`
      + ` · ${new Date(rec.at).toLocaleString(state.lang)}`;
  $("#reconcile").dataset.verdict = rec === null ? "none" : rec.verdict;
}

// --- auditors ----------------------------------------------------------------------------------
async function verifyAccount(account) {
  $("#au-error").textContent = "";
  $("#verdict").textContent = "";
  $("#verdict").className = "verdict";
  $("#bundle-link").hidden = true;
  $("#trail tbody").replaceChildren();
  let trail, proof;
  try {
    [trail, proof] = await Promise.all([
      api(`/v1/audit/accounts/${account}/trail`), api(`/v1/accounts/${account}/proof`),
    ]);
  } catch (err) {
    $("#au-error").textContent = err.status === 403 ? t("forbidden", { msg: err.message }) : err.message;
    return;
  }
  // the contract's count and head at the anchor block, as the proof answer states them
  const result = verifyTrail(account, trail.entries, { count: proof.count, head: proof.head });
  $("#trail tbody").replaceChildren(...trail.entries.map((e, i) => {
    const link = result.links[i];
    return el("tr", { class: link.ok ? "ok" : "broken", "data-seq": e.seq },
      el("td", {}, e.seq), el("td", {}, e.kind), el("td", {}, e.program),
      el("td", { class: "num" }, won(e.amount)), el("td", {}, e.reason),
      el("td", {}, new Date(e.timestamp * 1000).toLocaleString(state.lang)),
      el("td", { class: "mono" }, link.head), el("td", {}, link.ok ? t("link_ok") : t("link_bad")));
  }));
  const v = $("#verdict");
  v.dataset.verdict = result.ok ? "ok" : "broken";
  v.dataset.firstBroken = result.firstBroken ?? "";
  v.className = `verdict ${result.ok ? "ok" : "broken"}`;
  v.textContent = result.ok
    ? t("verified", { block: proof.anchor.block_number, hash: proof.anchor.block_hash,
      count: result.count, head: result.head })
    : result.firstBroken !== null
      ? t("broken", { seq: result.firstBroken, problem: result.problem })
      : t("broken_end", { problem: result.problem });
  try {
    const bundle = await api(`/v1/audit/accounts/${account}/bundle`);
    const link = $("#bundle-link");
    if (link.href) URL.revokeObjectURL(link.href);
    link.href = URL.createObjectURL(new Blob([JSON.stringify(bundle, null, 2)],
      { type: "application/json" }));
    link.download = `bundle-${account}-${bundle.block_number}.json`;
    link.hidden = false;
  } catch (err) {
    $("#au-error").textContent = err.message;
  }
}

// --- wiring ------------------------------------------------------------------------------------
$("#signin-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const key = $("#apikey").value.trim();
  $("#apikey").value = "";
  state.key = key;
  route();
});
$("#signout").addEventListener("click", () => { state.key = null; route(); });
$("#lang").addEventListener("click", () => {
  state.lang = state.lang === "ko" ? "en" : "ko";
  applyTexts();
  route();
  const acct = $("#account").value;
  if (state.key && location.hash === "#/auditor" && $("#verdict").textContent) verifyAccount(acct);
});
$("#trail-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  verifyAccount($("#account").value.trim().toLowerCase());
});
window.addEventListener("hashchange", route);
applyTexts();
route();
