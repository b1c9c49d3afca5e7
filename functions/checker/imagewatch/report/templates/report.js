/* imagewatch HTML report: the violations table, sorted, filtered and paged in the page itself.
   The rows are JSON arrays (report-rows) in COLUMNS order; only one page of them is in the DOM at a
   time, so 100,000 rows cost one JSON.parse, a pass per filter and a sort per column click. Text is
   set with textContent only: inventory text never becomes markup. Timings land on the table's
   data-* attributes (the browser tests print them). */
(function () {
  "use strict";
  var started = performance.now();
  var meta = JSON.parse(document.getElementById("report-meta").textContent);
  var rows = JSON.parse(document.getElementById("report-rows").textContent);
  var parsedMs = performance.now() - started;
  var SEV = 0, POL = 1, LABEL = 2, HOSTS = 3, FIRST = 4, DUE = 5, STATUS = 6, MESSAGE = 7, LATE = 8;
  var KEYS = { severity: SEV, policy: POL, label: LABEL, hosts: HOSTS, first_seen: FIRST, due: DUE, status: STATUS, message: MESSAGE };
  var severities = meta.severities, statuses = meta.statuses, policies = meta.policies;

  var table = document.getElementById("rows-table");
  var body = document.getElementById("rows-body");
  var countEl = document.getElementById("count");
  var pageInfo = document.getElementById("page-info");
  var search = document.getElementById("search");
  var statusSel = document.getElementById("status-filter");
  var policySel = document.getElementById("policy-filter");
  var sizeSel = document.getElementById("page-size");

  var state = { sev: {}, status: "current", policy: -1, q: "", key: "severity", dir: 1, page: 0, size: meta.pageSize || 100 };
  var order = null;   // every row index, in the current sort order
  var view = null;    // the indexes that pass the filters, in that order
  var hay = null;     // lower-case text per row for the search, built on first use
  var renders = 0;

  // policy ids ranked alphabetically: sorting by policy compares numbers, not strings
  var policyRank = policies.map(function (_, i) { return i; })
    .sort(function (a, b) { return policies[a][0] < policies[b][0] ? -1 : policies[a][0] > policies[b][0] ? 1 : 0; });
  var rankOf = new Int32Array(policies.length);
  policyRank.forEach(function (p, r) { rankOf[p] = r; });

  function fmt(n) { return n.toLocaleString("en-US"); }
  function day(seconds) { return seconds == null ? "" : new Date(seconds * 1000).toISOString().slice(0, 10); }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = text;
    return e;
  }
  function mark(name, ms) { table.setAttribute("data-" + name + "-ms", ms.toFixed(1)); }

  // -- filters -------------------------------------------------------------------------------------
  function current(r) { var s = r[STATUS]; return s !== 2; }
  var statusTest = {
    current: current,
    all: function () { return true; },
    "new": function (r) { return r[STATUS] === 0; },
    open: function (r) { return r[STATUS] === 1; },
    overdue: function (r) { return r[LATE] === 1; },
    resolved: function (r) { return r[STATUS] === 2; }
  };

  function buildHay() {
    hay = new Array(rows.length);
    var titles = policies.map(function (p) { return (p[0] + " " + p[1]).toLowerCase(); });
    for (var i = 0; i < rows.length; i++) {
      var r = rows[i];
      hay[i] = (r[LABEL] + "\u0001" + r[MESSAGE]).toLowerCase() + "\u0001" + titles[r[POL]];
    }
  }

  function applyFilters() {
    var t0 = performance.now();
    var test = statusTest[state.status] || current;
    var sevOn = Object.keys(state.sev).length > 0 ? state.sev : null;
    var policy = state.policy, q = state.q;
    if (q && !hay) buildHay();
    var out = new Int32Array(order.length), n = 0;
    for (var k = 0; k < order.length; k++) {
      var i = order[k], r = rows[i];
      if (!test(r)) continue;
      if (sevOn && !sevOn[r[SEV]]) continue;
      if (policy >= 0 && r[POL] !== policy) continue;
      if (q && hay[i].indexOf(q) < 0) continue;
      out[n++] = i;
    }
    view = out.subarray(0, n);
    mark("filter", performance.now() - t0);
  }

  // -- sorting -------------------------------------------------------------------------------------
  function compareText(a, b) { return a < b ? -1 : a > b ? 1 : 0; }
  function sortRows() {
    var t0 = performance.now();
    var col = KEYS[state.key], dir = state.dir;
    var idx = order || Int32Array.from({ length: rows.length }, function (_, i) { return i; });
    var cmp;
    if (col === POL) {
      cmp = function (a, b) { return (rankOf[rows[a][POL]] - rankOf[rows[b][POL]]) * dir || rows[a][SEV] - rows[b][SEV] || compareText(rows[a][LABEL], rows[b][LABEL]) || a - b; };
    } else if (col === LABEL || col === MESSAGE) {
      var low = rows.map(function (r) { return String(r[col]).toLowerCase(); });
      cmp = function (a, b) { return compareText(low[a], low[b]) * dir || rows[a][SEV] - rows[b][SEV] || a - b; };
    } else if (col === SEV) {
      cmp = function (a, b) {
        var ra = rows[a], rb = rows[b];
        return (ra[SEV] - rb[SEV]) * dir || rankOf[ra[POL]] - rankOf[rb[POL]] || compareText(ra[LABEL], rb[LABEL]) || a - b;
      };
    } else {  // numbers; an empty cell (no due date, no host count) sorts last either way
      cmp = function (a, b) {
        var x = rows[a][col], y = rows[b][col];
        if (x == null || y == null) return (x == null) - (y == null) || a - b;
        return (x - y) * dir || rows[a][SEV] - rows[b][SEV] || a - b;
      };
    }
    order = idx.sort(cmp);
    table.querySelectorAll("thead th").forEach(function (th) {
      var on = th.getAttribute("data-key") === state.key;
      if (on) th.setAttribute("aria-sort", dir > 0 ? "ascending" : "descending");
      else th.removeAttribute("aria-sort");
    });
    mark("sort", performance.now() - t0);
  }

  // -- one page into the DOM -----------------------------------------------------------------------
  function cell(tr, cls, label, content) {
    var td = el("td", cls);
    td.setAttribute("role", "cell");  // kept when a phone shows rows as cards (display: block)
    td.setAttribute("data-label", label);
    if (content != null) {
      if (typeof content === "string") td.textContent = content;
      else td.appendChild(content);
    }
    tr.appendChild(td);
    return td;
  }

  function render() {
    var t0 = performance.now();
    var pages = Math.max(1, Math.ceil(view.length / state.size));
    if (state.page >= pages) state.page = pages - 1;
    var start = state.page * state.size, end = Math.min(view.length, start + state.size);
    var frag = document.createDocumentFragment();
    for (var k = start; k < end; k++) {
      var r = rows[view[k]], sev = severities[r[SEV]] || "info", pol = policies[r[POL]] || ["?", "", ""];
      var tr = el("tr");
      tr.setAttribute("role", "row");
      tr.setAttribute("data-severity", sev);
      cell(tr, "sev", "Severity", el("span", "pill " + sev, sev));
      var p = el("div");
      p.appendChild(el("div", "id", pol[0]));
      if (pol[1] && pol[1] !== pol[0]) p.appendChild(el("div", "title", pol[1]));
      cell(tr, "policy", "Policy", p);
      cell(tr, "image", "Image", r[LABEL]);
      cell(tr, r[HOSTS] ? "num" : "num blank", "Hosts", r[HOSTS] ? fmt(r[HOSTS]) : "");
      cell(tr, "when", "First seen", day(r[FIRST]));
      var due = el("span", "", day(r[DUE]));
      if (r[LATE] === 1) due.appendChild(el("span", "late", "overdue"));
      cell(tr, r[DUE] == null ? "when blank" : "when", "Due", due);
      var st = statuses[r[STATUS]] || "";
      cell(tr, "", "Status", el("span", "state " + st, st));
      cell(tr, "message", "Message", r[MESSAGE]);
      frag.appendChild(tr);
    }
    body.replaceChildren(frag);
    countEl.textContent = view.length
      ? "Showing " + fmt(start + 1) + "–" + fmt(end) + " of " + fmt(view.length) + (view.length !== rows.length ? " matching (" + fmt(rows.length) + " rows)" : "")
      : "No violation matches (" + fmt(rows.length) + " rows)";
    pageInfo.textContent = "Page " + fmt(state.page + 1) + " of " + fmt(pages);
    document.getElementById("first").disabled = document.getElementById("prev").disabled = state.page === 0;
    document.getElementById("next").disabled = document.getElementById("last").disabled = state.page >= pages - 1;
    table.setAttribute("data-matching", String(view.length));
    table.setAttribute("data-renders", String(++renders));
    mark("render", performance.now() - t0);
  }

  function refilter() { state.page = 0; applyFilters(); render(); }

  // -- controls ------------------------------------------------------------------------------------
  var sevCounts = severities.map(function () { return 0; });
  for (var i = 0; i < rows.length; i++) if (rows[i][STATUS] !== 2) sevCounts[rows[i][SEV]]++;
  var chips = document.getElementById("sev-filter");
  severities.forEach(function (name, rank) {
    if (!sevCounts[rank] && rank > 2) return;
    var b = el("button", "chip");
    b.type = "button";
    b.setAttribute("data-severity", name);
    b.setAttribute("aria-pressed", "false");
    b.appendChild(el("span", "dot " + name));
    b.appendChild(document.createTextNode(name));
    b.appendChild(el("span", "n", fmt(sevCounts[rank])));
    b.addEventListener("click", function () {
      var on = b.getAttribute("aria-pressed") !== "true";
      b.setAttribute("aria-pressed", on ? "true" : "false");
      if (on) state.sev[rank] = true; else delete state.sev[rank];
      refilter();
    });
    chips.appendChild(b);
  });
  policyRank.forEach(function (p) {
    var o = el("option", "", policies[p][0]);
    o.value = String(p);
    policySel.appendChild(o);
  });
  statusSel.addEventListener("change", function () { state.status = statusSel.value; refilter(); });
  policySel.addEventListener("change", function () { state.policy = policySel.value === "" ? -1 : Number(policySel.value); refilter(); });
  var timer = 0;
  function searchNow() { clearTimeout(timer); var q = search.value.trim().toLowerCase(); if (q !== state.q) { state.q = q; refilter(); } }
  search.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(searchNow, 150); });
  search.addEventListener("search", searchNow);
  search.addEventListener("keydown", function (e) { if (e.key === "Enter") searchNow(); });
  sizeSel.addEventListener("change", function () { state.size = Number(sizeSel.value) || 100; refilter(); });
  function sortBy(key, dir) { state.key = key; state.dir = dir; sortRows(); applyFilters(); render(); }
  table.querySelectorAll("thead th button").forEach(function (button) {
    button.addEventListener("click", function () {
      var key = button.parentNode.getAttribute("data-key");
      sortBy(key, state.key === key ? -state.dir : key === "hosts" ? -1 : 1);
    });
  });
  var sortSel = document.getElementById("sort-by");
  sortSel.addEventListener("change", function () { sortBy(sortSel.value, sortSel.value === "hosts" ? -1 : 1); });
  function go(page) { state.page = page; render(); window.scrollTo(0, document.getElementById("violations").offsetTop); }
  document.getElementById("first").addEventListener("click", function () { go(0); });
  document.getElementById("prev").addEventListener("click", function () { go(Math.max(0, state.page - 1)); });
  document.getElementById("next").addEventListener("click", function () { go(state.page + 1); });
  document.getElementById("last").addEventListener("click", function () { go(Math.ceil(view.length / state.size) - 1); });
  var resolvedLink = document.getElementById("show-resolved");
  if (resolvedLink) resolvedLink.addEventListener("click", function () { statusSel.value = "resolved"; state.status = "resolved"; refilter(); });

  sortRows();
  applyFilters();
  render();
  mark("parse", parsedMs);
  mark("load", performance.now() - started);
  table.setAttribute("data-ready", "true");
})();
