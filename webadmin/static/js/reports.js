/* Reports page: one report at a time from /api/v1/reports/<name>, drawn with Chart.js (served locally) and as a
   table; export links carry the same parameters. */
(function () {
  "use strict";
  var labels = JSON.parse(document.getElementById("report-labels").textContent);
  var form = document.getElementById("report-form");
  var chart = null;
  var current = (location.hash || "#queues").slice(1);
  var page = 1;
  var COLORS = ["#0b5cad", "#1a7f4b", "#b42318", "#9a6700", "#6941c6", "#0e9384", "#c11574"];

  function params(extra) {
    var data = new FormData(form);
    var q = new URLSearchParams();
    data.forEach(function (v, k) { if (v !== "") { q.append(k, v); } });
    Object.keys(extra || {}).forEach(function (k) { q.set(k, extra[k]); });
    return q;
  }

  function fmt(key, v) {
    if (v === null || v === undefined) { return "–"; }
    if (typeof v === "boolean") { return v ? "✓" : ""; }
    if (/^(service_level|abandon_rate|occupancy|containment)$/.test(key)) { return (v * 100).toFixed(1) + " %"; }
    if (key === "ts" || key === "offered_at") { return HL.time(v, "second"); }
    if ((key === "direction" || key === "disposition" || key === "type") && labels.values[v]) { return labels.values[v]; }
    return String(v);
  }

  function drawTable(name, data) {
    var table = document.getElementById("report-table");
    var thead = table.tHead, tbody = table.tBodies[0];
    thead.textContent = ""; tbody.textContent = "";
    var rows = data.rows || [];
    if (name === "heatmap") {
      table.classList.add("heat");
      var head = HL.el("tr", {}, HL.el("th", {}, ""));
      for (var h = 0; h < 24; h++) { head.appendChild(HL.el("th", {}, (h < 10 ? "0" : "") + h)); }
      thead.appendChild(head);
      var max = 1;
      rows.forEach(function (r) { r.forEach(function (v) { max = Math.max(max, v); }); });
      rows.forEach(function (r, i) {
        var tr = HL.el("tr", {}, HL.el("th", {}, labels.weekdays[i]));
        r.forEach(function (v) {
          var a = v / max;
          tr.appendChild(HL.el("td", { style: "background: rgba(11, 92, 173, " + a.toFixed(2) + "); color: " +
                                               (a > 0.55 ? "#fff" : "inherit") }, v));
        });
        tbody.appendChild(tr);
      });
      return;
    }
    table.classList.remove("heat");
    var cols = labels.reports[name].columns;
    var tr = HL.el("tr");
    cols.forEach(function (c) { tr.appendChild(HL.el("th", {}, c[1])); });
    if (name === "queues") {
      labels.wait_buckets.forEach(function (b) { tr.appendChild(HL.el("th", { "class": "num" }, b)); });
    }
    thead.appendChild(tr);
    if (!rows.length) {
      tbody.appendChild(HL.el("tr", {}, HL.el("td", { colspan: String(cols.length), "class": "muted" },
                                               HL.T("Nothing here yet"))));
      return;
    }
    rows.forEach(function (r) {
      var line = HL.el("tr");
      cols.forEach(function (c) {
        line.appendChild(HL.el("td", { "class": typeof r[c[0]] === "number" ? "num" : "" }, fmt(c[0], r[c[0]])));
      });
      if (name === "queues") {
        (r.wait_distribution || []).forEach(function (v) { line.appendChild(HL.el("td", { "class": "num" }, v)); });
      }
      tbody.appendChild(line);
    });
  }

  function series(rows, key, filter) {
    var buckets = [], byBucket = {};
    rows.forEach(function (r) {
      if (filter && !filter(r)) { return; }
      if (!(r.bucket in byBucket)) { byBucket[r.bucket] = 0; buckets.push(r.bucket); }
      byBucket[r.bucket] += r[key] || 0;
    });
    return { labels: buckets, values: buckets.map(function (b) { return byBucket[b]; }) };
  }

  function col(name, key) {
    var c = labels.reports[name].columns.filter(function (x) { return x[0] === key; })[0];
    return c ? c[1] : key;
  }

  function chartConfig(name, rows) {
    var bar = function (lbls, sets, horizontal) {
      return { type: "bar", data: { labels: lbls, datasets: sets.map(function (s, i) {
        return { label: s[0], data: s[1], backgroundColor: COLORS[i % COLORS.length] }; }) },
        options: { responsive: true, maintainAspectRatio: false, animation: false,
                   indexAxis: horizontal ? "y" : "x", plugins: { legend: { position: "bottom" } } } };
    };
    if (name === "volume") {
      var inbound = function (r) { return r.direction === "inbound"; };
      var calls = series(rows, "calls", inbound);
      return bar(calls.labels, [[col(name, "calls"), calls.values],
                                [col(name, "queued"), series(rows, "queued", inbound).values],
                                [col(name, "contained"), series(rows, "contained", inbound).values]]);
    }
    if (name === "queues") {
      var off = series(rows, "offered"), ans = series(rows, "answered"), ab = series(rows, "abandoned");
      var cfg = bar(off.labels, [[col(name, "offered"), off.values], [col(name, "answered"), ans.values],
                                 [col(name, "abandoned"), ab.values]]);
      var inSl = series(rows, "answered_in_sl"), shortAb = series(rows, "short_abandoned");
      cfg.data.datasets.push({ type: "line", label: col(name, "service_level") + " %", yAxisID: "pct",
        borderColor: "#9a6700", backgroundColor: "#9a6700",
        data: off.values.map(function (o, i) {
          var d = o - shortAb.values[i]; return d ? Math.round(1000 * inSl.values[i] / d) / 10 : null; }) });
      /* add the percent axis beside the counts' axis (replacing the scales object would drop the y axis) */
      cfg.options.scales = Object.assign({}, cfg.options.scales, {
        y: { position: "left", beginAtZero: true },
        pct: { position: "right", min: 0, max: 100, grid: { drawOnChartArea: false } } });
      return cfg;
    }
    if (name === "agents") {
      var names = [], calls2 = {};
      rows.forEach(function (r) {
        var n = r.display_name || r.name;
        if (!(n in calls2)) { calls2[n] = 0; names.push(n); }
        calls2[n] += r.calls;
      });
      return bar(names, [[col(name, "calls"), names.map(function (n) { return calls2[n]; })]], true);
    }
    if (name === "lines") {
      var busy = series(rows, "busy_hours"), peak = series(rows, "peak");
      return { type: "line", data: { labels: busy.labels, datasets: [
        { label: col(name, "busy_hours"), data: busy.values, borderColor: COLORS[0], backgroundColor: COLORS[0] },
        { label: col(name, "peak"), data: peak.values, borderColor: COLORS[2], backgroundColor: COLORS[2] }] },
        options: { responsive: true, maintainAspectRatio: false, animation: false,
                   plugins: { legend: { position: "bottom" } } } };
    }
    if (name === "ivr") {
      return bar(rows.map(function (r) { return r.flow + " / " + r.node; }),
                 [[col(name, "reached"), rows.map(function (r) { return r.reached; })],
                  [col(name, "left_here"), rows.map(function (r) { return r.left_here; })]], true);
    }
    if (name === "tickets") {
      return bar(rows.map(function (r) { return labels.values[r.type] || r.type; }),
                 [[col(name, "count"), rows.map(function (r) { return r.count; })],
                  [col(name, "open"), rows.map(function (r) { return r.open; })]], true);
    }
    if (name === "faxes") {
      var sent = series(rows, "sent");
      return bar(sent.labels, [[col(name, "sent"), sent.values], [col(name, "failed"), series(rows, "failed").values],
                               [col(name, "received"), series(rows, "received").values]]);
    }
    if (name === "choices") {
      return bar(rows.map(function (r) { return r.flow + " " + r.menu + " [" + r.key + "]"; }),
                 [[col(name, "count"), rows.map(function (r) { return r.count; })]], true);
    }
    return null;
  }

  function drawChart(name, data) {
    var box = document.getElementById("chart-box");
    if (chart) { chart.destroy(); chart = null; }
    var cfg = window.Chart ? chartConfig(name, data.rows || []) : null;
    box.classList.toggle("hidden", !cfg);
    if (cfg) { chart = new window.Chart(document.getElementById("report-chart"), cfg); }
  }

  function pager(name, data) {
    var el = document.getElementById("report-pager");
    el.textContent = "";
    if (name !== "calls" && name !== "abandoned") { return; }
    var pages = Math.max(1, Math.ceil((data.total || 0) / 200));
    if (page > 1) { el.appendChild(HL.el("button", { "class": "btn btn-small", type: "button",
      onclick: function () { page -= 1; load(); } }, "‹")); }
    var more = data.total_capped ? "+" : "";   /* lists count up to 100,000 rows, then say "100000+" */
    el.appendChild(HL.el("span", { "class": "muted" }, page + " / " + pages + more + " (" + (data.total || 0) + more + ")"));
    if (page < pages) { el.appendChild(HL.el("button", { "class": "btn btn-small", type: "button",
      onclick: function () { page += 1; load(); } }, "›")); }
  }

  function load() {
    var q = params({ page: String(page) });
    document.getElementById("report-title").textContent = labels.reports[current].title;
    document.querySelectorAll(".tab").forEach(function (t) { t.classList.toggle("active", t.dataset.report === current); });
    ["csv", "xlsx"].forEach(function (f) {
      var e = params({ format: f });
      document.getElementById("export-" + f).href = "/api/v1/reports/" + current + "?" + e.toString();
    });
    document.getElementById("report-card").setAttribute("aria-busy", "true");
    HL.api("GET", "/reports/" + current + "?" + q.toString()).then(function (data) {
      drawTable(current, data);
      drawChart(current, data);
      pager(current, data);
      document.getElementById("report-card").setAttribute("aria-busy", "false");
    }, function (err) {
      HL.toast(HL.T("Error") + ": " + err.error);
      document.getElementById("report-card").setAttribute("aria-busy", "false");
    });
  }

  function iso(d) { return d.toISOString().slice(0, 10); }
  document.getElementById("preset").addEventListener("change", function (ev) {
    /* "today" is the box's day (HL.today), not the browser's */
    var v = ev.target.value, now = new Date(HL.today() + "T12:00:00"), from = new Date(now), to = new Date(now);
    if (!v) { return; }
    if (v === "yesterday") { from.setDate(now.getDate() - 1); to = new Date(from); }
    else if (v === "7" || v === "90") { from.setDate(now.getDate() - Number(v) + 1); }
    else if (v === "thisweek") { from.setDate(now.getDate() - ((now.getDay() + 6) % 7)); }
    else if (v === "lastweek") { from.setDate(now.getDate() - ((now.getDay() + 6) % 7) - 7); to = new Date(from); to.setDate(from.getDate() + 6); }
    else if (v === "thismonth") { from.setDate(1); }
    else if (v === "lastmonth") { from = new Date(now.getFullYear(), now.getMonth() - 1, 1); to = new Date(now.getFullYear(), now.getMonth(), 0); }
    var tz = function (d) { return new Date(d.getTime() - d.getTimezoneOffset() * 60000); };
    form.elements.from.value = iso(tz(from));
    form.elements.to.value = iso(tz(to));
  });
  form.addEventListener("submit", function (ev) { ev.preventDefault(); page = 1; load(); });
  document.querySelectorAll(".tab").forEach(function (t) {
    t.textContent = labels.reports[t.dataset.report].title;
    t.addEventListener("click", function () { current = t.dataset.report; page = 1; location.hash = current; load(); });
  });
  if (!labels.reports[current]) { current = "queues"; }
  load();
})();
