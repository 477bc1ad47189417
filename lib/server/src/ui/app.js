"use strict";
// reshifter's web UI: plain DOM, fetch and SVG; everything from this server, nothing from a CDN.
// Errors of the page itself are kept where a test (or a curious operator) can read them.
window.__errors = [];
addEventListener("error", e => window.__errors.push(String(e.message || e)));
addEventListener("unhandledrejection", e => window.__errors.push(String(e.reason)));
addEventListener("securitypolicyviolation", e => window.__errors.push("CSP: " + e.violatedDirective));
const consoleError = console.error.bind(console);
console.error = (...args) => { window.__errors.push(args.join(" ")); consoleError(...args); };
const $ = (s, root = document) => root.querySelector(s);
const tokenInput = $("#token");
tokenInput.value = sessionStorage.getItem("reshifter-token") || "";
tokenInput.addEventListener("change", () => {
  sessionStorage.setItem("reshifter-token", tokenInput.value);
  if (needToken) start();
});
// Every route that reads data needs the token (when the server has one): until it is given,
// the page asks for it and shows nothing else.
let needToken = false;

function status(text, error) {
  const s = $("#status");
  s.textContent = text;
  s.className = error ? "error" : "";
}

async function api(path, opts = {}) {
  const headers = Object.assign({}, opts.headers || {});
  if (tokenInput.value) headers["Authorization"] = "Bearer " + tokenInput.value;
  const r = await fetch(path, Object.assign({}, opts, { headers }));
  const text = await r.text();
  if (r.status === 401) {
    needToken = true;
    throw new Error(tokenInput.value ? "the token is not right: enter this server's token above" : "this server needs its token: enter it above");
  }
  if (!r.ok) throw new Error(text.trim() || ("HTTP " + r.status));
  const type = r.headers.get("content-type") || "";
  return type.includes("json") ? JSON.parse(text) : text;
}

function human(n) {
  const units = ["B", "kB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) { n /= 1000; i++; }
  return (i ? n.toFixed(1) : n) + " " + units[i];
}

function timeOf(id) {
  return new Date(Number(id) * 1000).toISOString().replace("T", " ").replace(".000Z", "");
}

function cell(row, text, cls) {
  const td = row.insertCell();
  td.textContent = text;
  if (cls) td.className = cls;
  return td;
}

function show(page) {
  for (const b of document.querySelectorAll("nav button")) {
    if (b.dataset.page === page) b.setAttribute("aria-current", "page"); else b.removeAttribute("aria-current");
  }
  for (const s of document.querySelectorAll("main section")) s.hidden = s.id !== "page-" + page;
  if (page === "backups" || page === "restore" || page === "keyspace") loadBackups();
}
for (const b of document.querySelectorAll("nav button")) b.addEventListener("click", () => show(b.dataset.page));

async function loadBackups(remote, bucket) {
  const q = new URLSearchParams();
  if (remote) q.set("remote", remote);
  if (bucket) q.set("bucket", bucket);
  try {
    const list = await api("/v1/backups?" + q);
    const body = $("#backups tbody");
    body.replaceChildren();
    for (const b of list.backups.slice().reverse()) {
      const row = body.insertRow();
      cell(row, b.backupid);
      cell(row, timeOf(b.backupid));
      cell(row, b.keys == null ? "—" : String(b.keys), "num");
      cell(row, human(b.size), "num");
      cell(row, b.verified === true ? "yes" : (b.verified === false ? "NO" : "—"));
      const td = row.insertCell();
      if (!remote) {
        // A plain link cannot carry the token: ask for a one-use link, then follow it.
        const a = document.createElement("button");
        a.type = "button";
        a.className = "link";
        a.textContent = b.backupid + ".zip";
        a.addEventListener("click", async () => {
          try {
            const l = await api("/v1/backup/" + b.backupid + "/link", { method: "POST" });
            location.assign(l.url);
          } catch (e) { status(e.message, true); }
        });
        td.append(a);
      }
    }
    if (!remote) {
      for (const sel of [$("#restore-id"), $("#keyspace-id")]) {
        const keep = sel.id === "keyspace-id" ? sel.options[0] : null;
        sel.replaceChildren(...(keep ? [keep] : []));
        for (const b of list.backups.slice().reverse()) sel.add(new Option(b.backupid + " (" + timeOf(b.backupid) + ")", b.backupid));
      }
    }
    status(list.backups.length + " backups");
    loadJobs();
  } catch (e) { status(e.message, true); }
}

async function loadJobs() {
  const j = await api("/v1/jobs");
  const body = $("#jobs tbody");
  body.replaceChildren();
  for (const job of j.jobs.slice(0, 20)) {
    const row = body.insertRow();
    cell(row, String(job.id), "num"); cell(row, job.kind); cell(row, job.by);
    cell(row, job.state, job.state === "failed" ? "bad" : "");
    cell(row, job.started.replace("T", " ").replace("Z", ""));
    cell(row, job.seconds == null ? "—" : job.seconds.toFixed(1), "num");
    cell(row, job.error || "");
  }
}

$("#list-form").addEventListener("submit", ev => {
  ev.preventDefault();
  const f = new FormData(ev.target);
  loadBackups(f.get("remote"), f.get("bucket"));
});

$("#backup-form").addEventListener("submit", async ev => {
  ev.preventDefault();
  const body = Object.fromEntries(new FormData(ev.target));
  status("backing up…");
  $("#backup-result").textContent = "";
  try {
    const r = await api("/v1/backup", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
    $("#backup-result").textContent = JSON.stringify(r, null, 2);
    status("backup " + r.backupid + " made");
  } catch (e) { status(e.message, true); }
});

let planned = null;
$("#restore-form").addEventListener("submit", async ev => {
  ev.preventDefault();
  planned = Object.fromEntries(new FormData(ev.target));
  status("dry run…");
  try {
    const r = await api("/v1/restore", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(Object.assign({ dry_run: true }, planned)) });
    const body = $("#plan tbody");
    body.replaceChildren();
    for (const s of r.summary) {
      const row = body.insertRow();
      cell(row, s.resource);
      for (const k of ["create", "update", "delete", "unchanged"]) cell(row, String(s[k] + (k === "unchanged" ? s.keep : 0)), "num");
    }
    $("#plan").hidden = false;
    $("#restore-confirm").hidden = false;
    status("dry run: would create " + r.would.create + ", update " + r.would.update + ", delete " + r.would.delete + "; nothing written yet");
  } catch (e) { status(e.message, true); }
});

$("#restore-confirm").addEventListener("click", async () => {
  if (!planned || !confirm("Write backup " + planned.backupid + " into " + planned.endpoint + " (" + planned.mode + ")?")) return;
  status("restoring…");
  try {
    const r = await api("/v1/restore", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(planned) });
    $("#restore-result").textContent = JSON.stringify(r, null, 2);
    $("#restore-confirm").hidden = true;
    status("restored " + r.keysrestored + " keys");
  } catch (e) { status(e.message, true); }
});

$("#explore-form").addEventListener("submit", async ev => {
  ev.preventDefault();
  const q = new URLSearchParams({ endpoint: new FormData(ev.target).get("endpoint") });
  status("exploring…");
  try {
    const [x, st, m] = await Promise.all([api("/v1/explorer?" + q), api("/v1/epstats?" + q), api("/v1/members?" + q)]);
    const mb = $("#members tbody");
    mb.replaceChildren();
    for (const member of m.members) {
      const row = mb.insertRow();
      cell(row, member.name); cell(row, member.id); cell(row, member.client_urls.join(", ")); cell(row, member.is_leader ? "yes" : "");
    }
    $("#members").hidden = false;
    const dl = $("#explore");
    dl.replaceChildren();
    const rows = [["etcd version", x.etcdversion], ["API", x.apiversion], ["security", x.etcdsec], ["Kubernetes distribution", x.k8sdistro],
      ["cluster id", m.cluster_id], ["Kubernetes keys", String(st.numkeys)], ["their values", human(st.totalsizevalbytes)]];
    for (const [k, v] of rows) {
      const dt = document.createElement("dt"); dt.textContent = k;
      const dd = document.createElement("dd"); dd.textContent = v;
      dl.append(dt, dd);
    }
    status("explored");
  } catch (e) { status(e.message, true); }
});

function chart(resources) {
  const svg = $("#chart");
  const rows = Object.entries(resources).sort((a, b) => b[1].bytes - a[1].bytes).slice(0, 25);
  const max = rows.length ? rows[0][1].bytes : 1;
  const w = 860, label = 330, h = 22;
  svg.setAttribute("viewBox", "0 0 " + w + " " + (rows.length * h + 4));
  svg.setAttribute("width", w);
  svg.setAttribute("height", rows.length * h + 4);
  svg.replaceChildren();
  const ns = "http://www.w3.org/2000/svg";
  rows.forEach(([name, c], i) => {
    const y = i * h + 2;
    const t = document.createElementNS(ns, "text");
    t.setAttribute("x", 0); t.setAttribute("y", y + 15);
    t.textContent = name.length > 44 ? name.slice(0, 43) + "…" : name;
    const r = document.createElementNS(ns, "rect");
    const bw = Math.max(1, (w - label - 120) * c.bytes / max);
    r.setAttribute("x", label); r.setAttribute("y", y + 3); r.setAttribute("width", bw); r.setAttribute("height", h - 6);
    const title = document.createElementNS(ns, "title");
    title.textContent = name + ": " + c.keys + " keys, " + human(c.bytes);
    r.append(title);
    const v = document.createElementNS(ns, "text");
    v.setAttribute("x", label + bw + 6); v.setAttribute("y", y + 15); v.textContent = human(c.bytes) + " · " + c.keys + " keys";
    svg.append(t, r, v);
  });
}

$("#keyspace-form").addEventListener("submit", async ev => {
  ev.preventDefault();
  const f = new FormData(ev.target);
  const q = new URLSearchParams();
  if (f.get("backupid")) q.set("backupid", f.get("backupid")); else q.set("endpoint", f.get("endpoint"));
  status("reading the keyspace…");
  try {
    const s = await api("/v1/keyspace?" + q);
    chart(s.resources);
    $("#chart-figure").hidden = false;
    const body = $("#namespaces tbody");
    body.replaceChildren();
    for (const [ns, c] of Object.entries(s.namespaces).sort((a, b) => b[1].bytes - a[1].bytes).slice(0, 30)) {
      const row = body.insertRow();
      cell(row, ns); cell(row, String(c.keys), "num"); cell(row, human(c.bytes), "num");
    }
    $("#namespaces").hidden = false;
    status(s.total.keys + " keys, " + human(s.total.bytes));
  } catch (e) { status(e.message, true); }
});

async function start() {
  try {
    const cfg = await api("/v1/config");
    needToken = false;
    for (const i of document.querySelectorAll("input.endpoint")) if (!i.value) i.value = cfg.etcd;
    show("backups");
  } catch (e) { status(e.message, true); }
}
start();
