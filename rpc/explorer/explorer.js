// NeuroShard Ledger Explorer: one page over the node's JSON-RPC (same origin), with live updates
// over its WebSocket subscriptions. No framework, nothing fetched from elsewhere; every value from
// the chain is put on the page as text (never parsed as HTML).
"use strict";

const view = document.getElementById("view");
const errorBox = document.getElementById("error");
const connDot = document.getElementById("conn");
const chainText = document.getElementById("chain-text");

// ---------- JSON-RPC ----------

class Unreachable extends Error {}
class RpcError extends Error {
  constructor(code, message) { super(message); this.code = code; }
}
const NOT_FOUND = -32004;
let nextId = 1;

async function rpc(method, params = []) {
  let resp;
  try {
    resp = await fetch("/", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ jsonrpc: "2.0", id: nextId++, method, params }),
    });
  } catch (e) {
    throw new Unreachable(`Cannot reach the NeuroShard node at ${location.host}: it is not running or not reachable from here. The page retries when it is back.`);
  }
  if (!resp.ok) throw new Unreachable(`The node at ${location.host} answered HTTP ${resp.status}.`);
  const body = await resp.json();
  if (body.error) throw new RpcError(body.error.code, body.error.message);
  return body.result;
}

// null when the chain has no such thing.
async function maybe(method, params) {
  try { return await rpc(method, params); } catch (e) {
    if (e instanceof RpcError && e.code === NOT_FOUND) return null;
    throw e;
  }
}

// ---------- building the page ----------

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

const short = (s) => (s && s.length > 20 ? `${s.slice(0, 10)}…${s.slice(-6)}` : s);
const link = (href, text, cls) => h("a", { href, class: cls || "hash", title: text }, short(text));
const addr = (a) => (a ? link(`#/account/${a}`, a) : "—");
const txLink = (t) => link(`#/tx/${t}`, t);
const blockLink = (n) => h("a", { href: `#/block/${n}` }, `#${n}`);
const proofLink = (p) => link(`#/proof/${p}`, p);
const neuro = (a) => (a && typeof a === "object" ? a.neuro : a);
const when = (ms) => (ms ? new Date(ms).toLocaleString() : "—");
const badge = (status) => h("span", { class: `badge ${status}`, "data-status": status }, status);

function card(label, value, unit, id) {
  return h("div", { class: "card" },
    h("div", { class: "label" }, label),
    h("div", { class: "value", id }, value, unit ? h("span", { class: "unit" }, ` ${unit}`) : null));
}

function kv(pairs) {
  const dl = h("dl", { class: "kv" });
  for (const [k, v] of pairs) dl.append(h("dt", {}, k), h("dd", {}, v ?? "—"));
  return dl;
}

function table(headers, rows, empty) {
  if (!rows.length) return h("p", { class: "empty" }, empty || "Nothing yet.");
  return h("table", {}, h("thead", {}, h("tr", {}, headers.map((x) => h("th", {}, x)))),
    h("tbody", {}, rows));
}

// A search's error stays up until the next search or page change: live refreshes (a second
// after each block) leave it alone.
let searchError = false;
function showError(e) {
  errorBox.hidden = false;
  errorBox.textContent = e instanceof Error ? e.message : String(e);
  if (e instanceof Unreachable) setConn("down", "node unreachable");
}
function clearError() { errorBox.hidden = true; errorBox.textContent = ""; searchError = false; }
function setConn(state, text) {
  connDot.className = `dot ${state}`;
  if (text) chainText.textContent = text;
}

// ---------- search ----------

const HEX40 = /^(0x)?[0-9a-fA-F]{40}$/;
const HEX64 = /^(0x)?[0-9a-fA-F]{64}$/;
const with0x = (s) => (s.startsWith("0x") ? s : `0x${s}`).toLowerCase();

async function search(raw) {
  const q = raw.trim();
  if (!q) return;
  if (/^\d+$/.test(q)) { go(`#/block/${q}`); return; }
  if (HEX40.test(q)) { go(`#/account/${with0x(q)}`); return; }
  if (HEX64.test(q)) {
    const hash = with0x(q);
    if (await maybe("neuro_getTransaction", [hash])) { go(`#/tx/${hash}`); return; }
    if (await maybe("neuro_getBlock", [hash])) { go(`#/block/${hash}`); return; }
    if (await maybe("neuro_getProof", [hash])) { go(`#/proof/${hash}`); return; }
    throw new Error(`Nothing on this chain has the hash ${hash}: no transaction, block or proof.`);
  }
  throw new Error(`"${q}" is not something the explorer can look up. Enter a wallet or node address (0x and 40 hex digits), a transaction, block or proof hash (0x and 64 hex digits), or a block height.`);
}

function go(hash) {
  if (location.hash === hash) render(); else location.hash = hash;
}

document.getElementById("search").addEventListener("submit", (ev) => {
  ev.preventDefault();
  clearError();
  search(document.getElementById("q").value).catch((e) => { showError(e); searchError = true; });
});

// ---------- pages ----------

async function pageHome() {
  const s = await rpc("neuro_status");
  const supply = await rpc("neuro_getSupply");
  const heights = [];
  for (let n = s.height; n > Math.max(0, s.height - 15); n--) heights.push(n);
  const blocks = await Promise.all(heights.map((n) => rpc("neuro_getBlock", [n])));
  const rows = blocks.map((b) => h("tr", {}, h("td", {}, blockLink(b.height)), h("td", {}, when(b.timeMs)),
      h("td", {}, addr(b.proposer)), h("td", {}, b.transactions.length), h("td", {}, link(`#/block/${b.hash}`, b.hash))));
  return [
    h("h1", {}, "Chain ", s.chain_id),
    h("div", { class: "cards" },
      card("Height", s.height, null, "height"),
      card("Peers", s.peers ?? "—"),
      card("Minted", neuro(supply.minted), "NEURO"),
      card("Circulating", neuro(supply.circulating), "NEURO"),
      card("Pending rewards", neuro(supply.pending), "NEURO")),
    h("h2", {}, "Latest blocks"),
    table(["Height", "Time", "Proposer", "Txs", "Hash"], rows, "No blocks yet."),
  ];
}

async function pageAccount(address) {
  const [acct, node] = await Promise.all([rpc("neuro_getAccount", [address]), maybe("neuro_getNode", [address])]);
  const proofs = await rpc("neuro_getProofs", [address, { limit: 25 }]);
  const history = await rpc("neuro_getAccountHistory", [address, { limit: 25 }]);
  const out = [h("h1", {}, node ? "Node" : "Account"), h("p", { class: "sub mono", id: "address" }, address)];
  const unknown = acct.nonce === 0 && acct.balance === "0" && acct.stake === "0" &&
    acct.pending.base === "0" && acct.bond.base === "0" && acct.unbonding === "0" && !node &&
    !proofs.items.length && !history.items.length;
  if (unknown) {
    out.push(h("p", { class: "notice", id: "unknown" },
      `No activity for ${address} on this chain: it has never held NEURO, sent a transaction, earned a reward or registered a node. Check the address, or wait for its first proof to be accepted.`));
    return out;
  }
  out.push(h("div", { class: "cards" },
    card("Balance", acct.balanceNeuro, "NEURO", "balance"),
    card("Pending", acct.pending.neuro, "NEURO", "pending"),
    card("Bonded", acct.bond.neuro, "NEURO", "bond"),
    card("Staked", acct.stakeNeuro, "NEURO", "stake"),
    card("Unbonding", neuroFromBase(acct.unbonding), "NEURO", "unbonding"),
    card("Nonce", acct.nonce)));
  if (acct.validator) out.push(h("p", {}, `Validator: power ${acct.validator.power}${acct.validator.jailed ? ", jailed" : acct.validator.downUntilMs != null ? ", jailed for downtime" : ""}.`));
  if (node) {
    out.push(h("h2", {}, "This address is a node"),
      kv([["Wallet", addr(node.wallet)], ["Registered", when(node.registeredAtMs)], ["Last proof", when(node.lastProofMs)],
        ["Proofs", node.proofs], ["Earned", `${neuro(node.earned)} NEURO`], ["Next batch", node.nextBatch]]));
  }
  // The wallet's nodes: the nodes its proofs came from and those it registered.
  const nodes = new Set();
  proofs.items.forEach((p) => p.proof && p.proof.node && nodes.add(p.proof.node));
  history.items.forEach((i) => (i.events || []).forEach((e) => e.type === "nodeRegistered" && e.wallet === address && nodes.add(e.node)));
  out.push(h("h2", {}, "Nodes"));
  out.push(nodes.size ? h("ul", { id: "nodes" }, [...nodes].map((n) => h("li", {}, link(`#/account/${n}`, n))))
    : h("p", { class: "empty" }, "This wallet has no nodes."));
  out.push(h("h2", {}, "Proofs"), pagedProofs(address, proofs));
  out.push(h("h2", {}, "History"), pagedHistory(address, history));
  return out;
}

function neuroFromBase(base) {
  const b = BigInt(base || "0");
  const whole = b / 10n ** 18n;
  let frac = (b % 10n ** 18n).toString().padStart(18, "0").replace(/0+$/, "");
  return frac ? `${whole}.${frac}` : `${whole}`;
}

function proofRow(item) {
  const p = item.proof;
  const yes = p.verdicts.filter((v) => v.valid).length;
  const no = p.verdicts.length - yes;
  return h("tr", { class: "proof" },
    h("td", {}, blockLink(p.height)), h("td", {}, proofLink(item.hash)), h("td", {}, addr(p.node)),
    h("td", {}, p.batches), h("td", {}, p.status === "paid" ? `${p.paid.neuro} NEURO paid` : `${p.reward.neuro} NEURO`), h("td", {}, badge(p.status)),
    h("td", {}, p.verdicts.length ? `${yes} valid, ${no} invalid` : "none"));
}

function pagedProofs(address, first) {
  const rows = first.items.filter((i) => i.proof).map(proofRow);
  const body = h("tbody", {}, rows);
  const wrap = h("div", { id: "proofs" });
  if (!rows.length) { wrap.append(h("p", { class: "empty" }, "No accepted proofs yet.")); return wrap; }
  wrap.append(h("table", {}, h("thead", {}, h("tr", {},
    ["Block", "Proof", "Node", "Batches", "Reward", "Status", "Verdicts"].map((x) => h("th", {}, x)))), body));
  moreButton(wrap, first.next, async (before) => {
    const page = await rpc("neuro_getProofs", [address, { limit: 25, before }]);
    page.items.filter((i) => i.proof).forEach((i) => body.append(proofRow(i)));
    return page.next;
  });
  return wrap;
}

function summary(item) {
  const parts = [];
  for (const e of item.events || []) {
    if (e.type === "transfer") parts.push(`${e.amount.neuro} NEURO to ${short(e.to)}`);
    else if (e.type === "reward") parts.push(`proof accepted, reward ${e.amount.neuro} NEURO`);
    else if (e.type === "fraudProven") parts.push(`fraud proven: ${e.voided.neuro} voided, ${e.taken.neuro} taken`);
    else if (e.type === "staked") parts.push(`staked ${e.amount.neuro}`);
    else if (e.type === "spent") parts.push(`spent ${e.amount.neuro} (${e.burned.neuro} burned)`);
    else if (e.type === "nodeRegistered") parts.push(`registered node ${short(e.node)}`);
    else if (e.type === "roundClosed") parts.push(`closed round ${e.round}`);
    else if (e.type === "verdict") parts.push(`verdict ${e.valid ? "valid" : "invalid"}`);
  }
  return parts.join("; ") || "—";
}

function historyRow(item) {
  return h("tr", { class: "history" },
    h("td", {}, blockLink(item.height)), h("td", {}, item.kind || "?"), h("td", {}, txLink(item.hash)),
    h("td", {}, badge(item.success ? "ok" : "failed")), h("td", {}, item.success ? summary(item) : item.error));
}

function pagedHistory(address, first) {
  const body = h("tbody", {}, first.items.map(historyRow));
  const wrap = h("div", { id: "history" });
  if (!first.items.length) { wrap.append(h("p", { class: "empty" }, "No transactions yet.")); return wrap; }
  wrap.append(h("table", {}, h("thead", {}, h("tr", {},
    ["Block", "Kind", "Transaction", "Result", "What happened"].map((x) => h("th", {}, x)))), body));
  moreButton(wrap, first.next, async (before) => {
    const page = await rpc("neuro_getAccountHistory", [address, { limit: 25, before }]);
    page.items.forEach((i) => body.append(historyRow(i)));
    return page.next;
  });
  return wrap;
}

function moreButton(wrap, next, load) {
  if (!next) return;
  let cursor = next;
  const b = h("button", { class: "more", type: "button" }, "Older");
  b.addEventListener("click", async () => {
    try { cursor = await load(cursor); if (!cursor) b.remove(); } catch (e) { showError(e); }
  });
  wrap.append(b);
}

async function pageBlock(id) {
  const b = await maybe("neuro_getBlock", [/^\d+$/.test(id) ? Number(id) : id, true]);
  if (!b) throw new Error(`There is no block ${id} on this chain (yet).`);
  return [
    h("h1", {}, `Block ${b.height}`), h("p", { class: "sub mono" }, b.hash),
    kv([["Time", when(b.timeMs)], ["Proposer", addr(b.proposer)],
      ["Parent", b.height > 1 ? h("a", { href: `#/block/${b.height - 1}`, class: "hash" }, b.parentHash) : b.parentHash],
      ["State root before", b.prevStateRoot], ["Transactions", b.transactions.length]]),
    h("h2", {}, "Transactions"),
    table(["Hash", "Kind", "From", "Nonce", "Fee"], b.transactions.map((t) => h("tr", {},
      h("td", {}, txLink(t.hash)), h("td", {}, t.kind), h("td", {}, addr(t.from)), h("td", {}, t.nonce),
      h("td", {}, `${t.fee.neuro} NEURO`))), "An empty block."),
  ];
}

async function pageTx(hash) {
  const t = await maybe("neuro_getTransaction", [hash]);
  if (!t) throw new Error(`No committed transaction has the hash ${hash}.`);
  const { transaction: tx, receipt: r } = t;
  return [
    h("h1", {}, `Transaction (${tx.kind})`), h("p", { class: "sub mono" }, tx.hash),
    kv([["Result", r.success ? badge("ok") : h("span", {}, badge("failed"), " ", r.error)],
      ["Block", blockLink(r.height)], ["Position", r.position], ["From", addr(tx.from)], ["Nonce", tx.nonce],
      ["Fee", `${r.fee.neuro} NEURO`], ["Burned", `${r.burned.neuro} NEURO`],
      ["Body", h("pre", { class: "mono" }, JSON.stringify(tx.body, null, 2))]]),
    h("h2", {}, "Events"),
    table(["Event", "Details"], r.events.map((e) => h("tr", {}, h("td", {}, e.type),
      h("td", { class: "mono" }, JSON.stringify(e, (k, v) => (k === "type" ? undefined : v))))), "No events."),
  ];
}

async function pageProof(hash) {
  const p = await maybe("neuro_getProof", [hash]);
  if (!p) throw new Error(`No accepted proof has the hash ${hash}.`);
  return [
    h("h1", {}, "Proof of Neural Work ", badge(p.status)), h("p", { class: "sub mono" }, hash),
    kv([["Node", addr(p.node)], ["Wallet", addr(p.wallet)], ["Block", blockLink(p.height)],
      ["Round", h("a", { href: `#/round/${p.round}` }, p.round)],
      p.uptimeSecs
        ? ["Uptime", `${p.uptimeSecs} s, shown by a liveness answer (the round model's losses on one forward batch a minute)`]
        : ["Batches", `${p.batches} from batch ${p.firstBatch}`],
      ...(p.dataServer
        ? [["Data served by", h("span", {}, addr(p.dataServer.node), ` (${p.dataGross.neuro} NEURO of the gross, paid to its wallet in proportion)`)]]
        : []),
      ["Layers", `${p.layers[0]}..${p.layers[1]}`], ["Gross", `${p.gross.neuro} NEURO`], ["Reward", `${p.reward.neuro} NEURO`],
      ["Covered by bond", `${p.covered.neuro} NEURO (paid if not drawn)`], ["Paid", `${p.paid.neuro} NEURO`],
      ["Drawn", p.sampled === null ? "not yet" : p.sampled ? (p.drawnInFull ? "yes (window spoiled)" : "yes") : "no"],
      ...(p.replayers && p.replayers.length
        ? [["Replayers", h("span", {}, ...p.replayers.flatMap((r, i) => (i ? [", ", addr(r)] : [addr(r)])))]]
        : []),
      ["Claim", p.newcomer
        ? `newcomer: its bond covered less than half of it, so it is paid only if drawn${p.newcomerChance ? ` (chance ${(Number(p.newcomerChance) * 100).toPrecision(3)}%), reward ÷ chance` : ""}`
        : "bonded"],
      ["Accepted", when(p.acceptedMs)], ["Matures", when(p.maturesAtMs)], ["Model", p.modelVersion],
      ["Data seed", p.dataSeed], [p.uptimeSecs ? "Liveness answer" : "Pseudo-gradient", p.pseudoGradient]]),
    h("h2", {}, "Verdicts"),
    table(["Validator", "Verdict", "Power"], p.verdicts.map((v) => h("tr", {}, h("td", {}, addr(v.validator)),
      h("td", {}, badge(v.valid ? "valid" : "invalid")), h("td", {}, v.power))), "Not re-executed (not drawn for sampling)."),
  ];
}

async function pageValidators() {
  const vs = await rpc("neuro_getValidators");
  return [h("h1", {}, "Validators"),
    table(["Address", "Power", "Stake", "Missed proposals", "Jailed"], vs.map((v) => h("tr", {}, h("td", {}, addr(v.address)),
      h("td", {}, v.power), h("td", {}, `${neuroFromBase(v.stake)} NEURO`),
      h("td", {}, `${v.missed ?? 0} of ${v.proposals ?? 0} this window`),
      h("td", {}, v.jailed ? "yes" : v.downUntilMs != null ? `for downtime (may unjail from ${new Date(v.downUntilMs).toISOString()})` : "no"))))];
}

// ---------- charts (plain SVG) ----------

const SVG = "http://www.w3.org/2000/svg";
function svg(tag, attrs) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  return el;
}

// series: [{name, color, points: [[x, y], …]}]
function lineChart(series, xLabel, yLabel, id) {
  const W = 720, H = 260, L = 64, R = 12, T = 12, B = 36;
  const all = series.flatMap((s) => s.points);
  const wrap = h("div", { class: "chart", id });
  if (!all.length) { wrap.append(h("p", { class: "empty" }, "No data yet.")); return wrap; }
  let [x0, x1] = [Math.min(...all.map((p) => p[0])), Math.max(...all.map((p) => p[0]))];
  let [y0, y1] = [Math.min(0, ...all.map((p) => p[1])), Math.max(...all.map((p) => p[1]))];
  if (x1 === x0) x1 = x0 + 1;
  if (y1 === y0) y1 = y0 + 1;
  const sx = (x) => L + ((x - x0) / (x1 - x0)) * (W - L - R);
  const sy = (y) => T + (1 - (y - y0) / (y1 - y0)) * (H - T - B);
  const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": yLabel });
  for (let i = 0; i <= 4; i++) {
    const y = y0 + ((y1 - y0) * i) / 4;
    root.append(svg("line", { x1: L, x2: W - R, y1: sy(y), y2: sy(y), stroke: "#e5e7eb" }));
    const t = svg("text", { x: L - 6, y: sy(y) + 4, "text-anchor": "end", "font-size": 11, fill: "#5b6573" });
    t.textContent = y >= 100 ? y.toFixed(0) : y.toPrecision(3);
    root.append(t);
  }
  for (const [x, anchor] of [[x0, "start"], [x1, "end"]]) {
    const t = svg("text", { x: sx(x), y: H - 18, "text-anchor": anchor, "font-size": 11, fill: "#5b6573" });
    t.textContent = Math.round(x);
    root.append(t);
  }
  const xl = svg("text", { x: (L + W - R) / 2, y: H - 4, "text-anchor": "middle", "font-size": 12, fill: "#5b6573" });
  xl.textContent = xLabel;
  root.append(xl);
  for (const s of series) {
    if (!s.points.length) continue;
    const d = s.points.map((p, i) => `${i ? "L" : "M"}${sx(p[0]).toFixed(1)},${sy(p[1]).toFixed(1)}`).join(" ");
    root.append(svg("path", { d, fill: "none", stroke: s.color, "stroke-width": 2 }));
  }
  wrap.append(root, h("div", { class: "legend" }, series.map((s) => h("span", {},
    h("i", { style: `background:${s.color}` }), `${s.name} (${yLabel})`))));
  return wrap;
}

const toNeuro = (base) => Number(BigInt(base)) / 1e18;

async function pageSupply() {
  const [s, hist] = await Promise.all([rpc("neuro_getSupply"), rpc("neuro_getSupplyHistory", [120])]);
  const series = [["minted", "#2f5bd3"], ["pending", "#7c3aed"], ["burned", "#ea580c"], ["slashed", "#c62828"], ["voided", "#6b7280"], ["unchecked", "#0d9488"]]
    .map(([k, color]) => ({ name: k, color, points: hist.points.map((p) => [p.height, toNeuro(p[k])]) }));
  return [
    h("h1", {}, "Supply"),
    h("p", { class: "sub" }, "Genesis minted nothing: every NEURO here was minted for an accepted Proof of Neural Work. Circulating = minted − burned − slashed. A proof nobody re-executed pays only what its wallet's bond covers; the rest is never minted (unchecked)."),
    h("div", { class: "cards", id: "supply" },
      card("Minted", neuro(s.minted), "NEURO", "minted"), card("Burned", neuro(s.burned), "NEURO"),
      card("Slashed", neuro(s.slashed), "NEURO"), card("Circulating", neuro(s.circulating), "NEURO"),
      card("Pending", neuro(s.pending), "NEURO"), card("Voided", neuro(s.voided), "NEURO"),
      card("Never minted (unchecked)", neuro(s.unchecked), "NEURO"),
      card("Reward rate now", `${(Number(s.rewardRate) * 100).toFixed(2)}%`, "of gross", "reward-rate")),
    h("p", { class: "sub" }, "Diminishing returns are the network's: every proof of a window is paid the same share of its gross, set by what the network was paid in the window before, so splitting work across wallets earns nothing more."),
    h("h2", {}, "Over time"),
    lineChart(series, "block height", "NEURO", "supply-chart"),
  ];
}

async function pageTraining() {
  const m = await rpc("neuro_getModel");
  const rounds = [];
  for (let r = m.round; r >= Math.max(0, m.round - 24); r--) {
    const round = await maybe("neuro_getTrainingRound", [r]);
    if (round) rounds.push(round);
  }
  const losses = rounds.filter((r) => r.close && r.close.evalLoss !== undefined)
    .map((r) => [r.round, Number(r.close.evalLoss)]).reverse();
  const c = m.config || {};
  const model = h("span", { class: "mono" }, m.modelVersion);
  return [
    h("h1", {}, "Training"),
    kv([["Open round", m.round], ["Model version", model],
      ["Weights", m.weightsAvailableHere ? h("a", { href: `/models/${m.modelVersion}.safetensors`, id: "download" }, "download (safetensors)")
        : "not held by this node"],
      ["Architecture", c.hidden ? `${c.layers} layers × ${c.hidden} hidden, ${c.heads} heads, vocabulary ${c.vocab}` : "—"],
      ["Genesis model", m.genesisModel],
      ["Training corpus", m.corpus]]),
    h("h2", {}, "Held-out loss per round"),
    losses.length ? lineChart([{ name: "eval loss", color: "#1a7f37", points: losses }], "round", "nats/token", "loss-chart")
      : h("p", { class: "notice" }, "Rounds on this chain do not record a held-out loss yet; the chart appears when they do."),
    h("h2", {}, "Rounds"),
    table(["Round", "State", "Model", "Next model", "Proofs", "Included"], rounds.map((r) => h("tr", { class: "round" },
      h("td", {}, h("a", { href: `#/round/${r.round}` }, r.round)), h("td", {}, badge(r.open ? "open" : "closed")),
      h("td", { class: "hash" }, short(r.modelVersion)), h("td", { class: "hash" }, r.close ? short(r.close.nextModel) : "—"),
      h("td", {}, r.proofCount), h("td", {}, r.close ? r.close.included.length : "—")))),
  ];
}

async function pageRound(n) {
  const r = await maybe("neuro_getTrainingRound", [Number(n)]);
  if (!r) throw new Error(`There is no training round ${n} yet.`);
  return [
    h("h1", {}, `Round ${r.round} `, badge(r.open ? "open" : "closed")),
    kv([["Model", r.modelVersion], ["Opened", `${when(r.openedMs)} (block ${r.openedHeight})`],
      ["Proofs", r.proofCount], ["Aggregate", r.close ? r.close.aggregate : "—"],
      ["Next model", r.close ? r.close.nextModel : "—"], ["Closed", r.close ? when(r.close.closedMs) : "—"],
      ["Deadline", `${when(r.deadlineMs)} (training proofs until then: ${r.trainedCount})`],
      ["Attestations", r.attestations.length ? r.attestations.map((a) => `${a.validator.slice(0, 10)}… (power ${a.power}) → ${short(a.result)}`).join(", ") : "none yet"],
      ["Adopted with", r.close ? `${r.close.attestedPower} of ${r.close.totalPower} voting power` : "—"],
      ["Held-out loss", r.close && r.close.evalLoss !== undefined ? `${r.close.evalLoss} nats/token` : "not recorded"]]),
    h("h2", {}, "Proofs"),
    table(["Proof", "Node", "Batches", "Status", "Included"], r.proofs.map((p) => h("tr", {},
      h("td", {}, proofLink(p.hash)), h("td", {}, addr(p.node)), h("td", {}, p.batches), h("td", {}, badge(p.status)),
      h("td", {}, r.close ? (r.close.included.includes(p.hash) ? "yes" : "no") : "—")))),
  ];
}

// ---------- NeuroDAO ----------

const pct = (bps) => `${(Number(bps) / 100).toFixed(2).replace(/\.?0+$/, "")}%`;
const changesText = (p) => (p.action.changes || []).map((c) => `${c.name} = ${c.value}`).join(", ");
function statusText(p) {
  if (p.status === "passed") return `passed, applies at block ${p.activationHeight}`;
  if (p.status === "nextRound") return `passed; the next training round opens with it (scheduled at block ${p.scheduledHeight})`;
  if (p.status === "applied") return `applied at block ${p.appliedHeight}`;
  if (p.status === "failed") return `failed at block ${p.failedHeight}: ${p.reason}`;
  if (p.status === "voting") return `voting until ${when(p.votingEndMs)}`;
  if (p.status === "deposit") return `waiting for deposit until ${when(p.depositEndMs)}`;
  return p.status;
}
function tallyText(t) {
  if (!t) return "—";
  return `yes ${neuro(t.yes)} · no ${neuro(t.no)} · abstain ${neuro(t.abstain)} · veto ${neuro(t.veto)} of ${neuro(t.totalPower)} NEURO of power`;
}

async function pageGovernance() {
  const g = await rpc("neuro_getProposals", [{ limit: 50 }]);
  const r = g.rules;
  return [
    h("h1", {}, "Governance"),
    h("p", { class: "sub" }, "NeuroDAO: holders of bonded stake vote on reward rates, slashing and protocol parameters. No vote can change the model's size, restrict who takes part, mint or move a balance: the ledger refuses such proposals."),
    h("div", { class: "cards", id: "gov-rules" },
      card("Deposit to vote", neuro(r.minDeposit), "NEURO"), card("Voting period", `${Math.round(r.votingPeriodMs / 1000)}`, "s"),
      card("Quorum", pct(r.quorumBps), "of power"), card("Threshold", pct(r.thresholdBps), "yes"),
      card("Veto", pct(r.vetoThresholdBps), "of votes"), card("Timelock", r.timelockBlocks, "blocks")),
    h("h2", {}, "Proposals"),
    table(["#", "Title", "Changes", "Status", "Deposit", "Tally"], g.proposals.map((p) => h("tr", { class: "proposal" },
      h("td", {}, h("a", { href: `#/proposal/${p.id}` }, p.id)), h("td", {}, p.title),
      h("td", { class: "mono" }, changesText(p)), h("td", {}, badge(p.status), " ", h("span", { class: "sub" }, statusText(p))),
      h("td", {}, `${neuro(p.totalDeposit)} / ${neuro(p.minDeposit)}`), h("td", {}, tallyText(p.tally)))),
    "No proposal yet."),
  ];
}

async function pageProposal(n) {
  const p = await maybe("neuro_getProposal", [Number(n)]);
  if (!p) throw new Error(`There is no proposal ${n}.`);
  return [
    h("h1", {}, `Proposal ${p.id}: ${p.title} `, badge(p.status)),
    kv([["Changes", h("span", { class: "mono" }, changesText(p))], ["Status", statusText(p)],
      ["Proposer", addr(p.proposer)], ["Submitted", `${when(p.submittedMs)} (block ${p.submittedHeight})`],
      ["Deposit", `${neuro(p.totalDeposit)} of ${neuro(p.minDeposit)} NEURO`],
      [p.final ? "Final tally" : "Tally if it closed now", p.tally ? `${tallyText(p.tally)} → ${p.final ? "" : "would be "}${p.tally.outcome}` : "—"]]),
    h("h2", {}, "Votes"),
    table(["Voter", "Vote", "Power"], (p.votes || []).map((v) => h("tr", { class: "vote" },
      h("td", {}, addr(v.voter)), h("td", {}, badge(v.option)), h("td", {}, `${neuro(v.power)} NEURO`))), "No vote yet."),
    h("h2", {}, "Deposits"),
    table(["Depositor", "Amount"], p.deposits.map((d) => h("tr", {},
      h("td", {}, addr(d.depositor)), h("td", {}, `${neuro(d.amount)} NEURO`)))),
  ];
}

// ---------- routing and live updates ----------

const routes = [
  [/^#?\/?$/, pageHome],
  [/^#\/account\/(0x[0-9a-f]{40})$/i, pageAccount],
  [/^#\/block\/(\d+|0x[0-9a-f]{64})$/i, pageBlock],
  [/^#\/tx\/(0x[0-9a-f]{64})$/i, pageTx],
  [/^#\/proof\/(0x[0-9a-f]{64})$/i, pageProof],
  [/^#\/validators$/, pageValidators],
  [/^#\/supply$/, pageSupply],
  [/^#\/training$/, pageTraining],
  [/^#\/round\/(\d+)$/, pageRound],
  [/^#\/governance$/, pageGovernance],
  [/^#\/proposal\/(\d+)$/, pageProposal],
];

let rendering = null;
let again = false;

// `live`: a refresh after a new block, which leaves the page alone (scroll, opened pages of
// history) unless what it shows has changed.
async function render(live = false) {
  if (rendering) { again = true; return rendering; }
  rendering = (async () => {
    do {
      again = false;
      const hash = location.hash || "#/";
      const route = routes.find(([re]) => re.test(hash));
      try {
        if (!route) throw new Error(`There is no page ${hash}.`);
        const args = hash.match(route[0]).slice(1).map((a) => (a.startsWith("0x") ? a.toLowerCase() : a));
        const fresh = h("div", {}, await route[1](...args));
        const same = live && view.dataset.page === route[1].name && fresh.textContent === view.textContent;
        if (!same) view.replaceChildren(...fresh.childNodes);
        view.dataset.page = route[1].name;
        if (!(live && searchError)) clearError();
      } catch (e) {
        if (!(e instanceof Unreachable)) view.replaceChildren();
        view.dataset.page = "error";
        showError(e);
      }
    } while (again);
    rendering = null;
  })();
  return rendering;
}

window.addEventListener("hashchange", () => { clearError(); render(); });

// Live: re-render the page a second after a new block (at most once a second), so balances,
// proofs and charts follow the chain without reloading.
let refreshTimer = null;
function onNewHead(head) {
  setConn("live", `height ${head.height}`);
  if (refreshTimer) return;
  refreshTimer = setTimeout(() => { refreshTimer = null; if (!document.hidden) render(true); }, 1000);
}

let backoff = 500;
function connect() {
  const ws = new WebSocket(`${location.protocol === "https:" ? "wss:" : "ws:"}//${location.host}/`);
  ws.onopen = () => {
    backoff = 500;
    ws.send(JSON.stringify({ jsonrpc: "2.0", id: 1, method: "neuro_subscribeNewHeads", params: [] }));
    rpc("neuro_status").then((s) => setConn("live", `${s.chain_id} · height ${s.height}`)).catch(() => {});
    if (view.dataset.page === "error") render();
  };
  ws.onmessage = (ev) => {
    const msg = JSON.parse(ev.data);
    if (msg.method === "neuro_newHead" && msg.params) onNewHead(msg.params.result);
  };
  ws.onclose = () => {
    setConn("down", "node unreachable, reconnecting…");
    setTimeout(connect, backoff);
    backoff = Math.min(backoff * 2, 10000);
  };
}

render();
connect();
