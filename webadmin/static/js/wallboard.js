/* Supervisor wallboard: renders the "wallboard" snapshot pushed over the hub (no polling), ticks the clocks
   in between, and sends the supervisor's actions through the JSON API (HL.api adds the XSRF header). */
(function () {
  "use strict";
  var T = HL.T, el = HL.el;
  var LANG = document.documentElement.lang === "zh-CN" ? "zh_CN" : "en_US";
  var STATION_KEY = "hotline.wallboard.station";

  var AGENT_STATES = {
    ready: ["Ready", "ok"], not_ready: ["Not ready", "warn"], on_call: ["On call", "busy"],
    wrap_up: ["Wrap-up", "warn"], reserved: ["Ringing", "busy"], logged_out: ["Logged out", ""],
    outbound: ["Outbound call", "busy"]
  };
  var CALL_STATES = {
    waiting: ["Waiting", "warn"], offered: ["Ringing agent", "busy"], talking: ["Talking", "ok"],
    held: ["On hold", "warn"], ivr: ["In IVR", ""], ringing: ["Ringing", ""], ending: ["Ending", ""]
  };
  var REASONS = { lunch: "Lunch", "break": "Break", training: "Training", meeting: "Meeting",
                  missed_calls: "Missed calls" };
  var MODES = { listen: "Listen", whisper: "Whisper", barge: "Barge" };
  var LINE_STATES = { idle: "ok", busy: "busy", down: "bad" };

  var snap = JSON.parse(document.getElementById("wb-initial").textContent || "{}");
  var received = performance.now();
  var deferred = {};

  /* "%(name)s" placeholders in a translated string. */
  function fmt(template, values) {
    return T(template).replace(/%\((\w+)\)[sd]/g, function (_, k) { return String(values[k]); });
  }
  function reasonLabel(r) { return REASONS[r] ? T(REASONS[r]) : r; }
  function queueTitle(name) {
    var q = (snap.queues || []).filter(function (x) { return x.name === name; })[0];
    if (!q) { return name || ""; }
    return q.title[LANG] || q.title.en_US || q.title.zh_CN || q.name;
  }
  function badge(label, cls) { return el("span", { "class": "badge " + (cls || "") }, label); }
  function percent(v) { return v === null || v === undefined ? "-" : Math.round(v * 100) + "%"; }
  function slClass(v) { return v === null || v === undefined ? "" : v >= 0.8 ? "ok" : v >= 0.6 ? "warn" : "bad"; }
  /* Waiting callers are a warning; a wait beyond the queue's service level time is bad. */
  function waitTone(q) { return !q.waiting ? "" : q.longest_wait_s > q.service_level_seconds ? "bad" : "warn"; }

  /* A clock that counts up from `seconds` (as of the snapshot) until the next snapshot replaces it. */
  function ticking(seconds, cls) {
    var t0 = received - seconds * 1000;
    return el("span", { "class": "tick data " + (cls || ""), "data-t0": String(t0) },
              HL.duration((performance.now() - t0) / 1000));
  }
  function tick() {
    var now = performance.now();
    document.querySelectorAll(".tick").forEach(function (node) {
      node.textContent = HL.duration((now - Number(node.getAttribute("data-t0"))) / 1000);
    });
    var clock = document.getElementById("wb-clock");
    if (clock) { clock.textContent = HL.time(Date.now() / 1000, "second").slice(11); }
  }

  function fill(tbodyParent, rows, emptyText, columns) {
    var body = tbodyParent.querySelector("tbody");
    if (!rows.length) {
      rows = [el("tr", { "class": "wb-empty" }, el("td", { colspan: String(columns), "class": "muted" }, emptyText))];
    }
    body.replaceChildren.apply(body, rows);
  }

  /* Tables with a focused control are redrawn when the focus leaves them (a select must not vanish under
     the supervisor's mouse). */
  function guarded(id, draw) {
    var table = document.getElementById(id);
    var active = document.activeElement;
    if (active && active.tagName === "SELECT" && table.contains(active)) {
      deferred[id] = draw;
      return;
    }
    delete deferred[id];
    draw(table);
  }
  ["wb-agents", "wb-calls"].forEach(function (id) {
    document.getElementById(id).addEventListener("focusout", function () {
      setTimeout(function () { if (deferred[id]) { guarded(id, deferred[id]); } }, 0);
    });
  });

  // ---- rendering ------------------------------------------------------------------------------------
  function renderTotals() {
    var waiting = 0, longest = 0, inSl = 0, offered = 0, tone = "";
    (snap.queues || []).forEach(function (q) {
      waiting += q.waiting;
      if (q.waiting && q.longest_wait_s > longest) { longest = q.longest_wait_s; }
      if (waitTone(q) === "bad" || (waitTone(q) === "warn" && !tone)) { tone = waitTone(q); }
      inSl += q.today.answered_in_sl;
      offered += q.today.offered - q.today.short_abandoned;   // short abandons are not counted (docs/metrics.md)
    });
    var logged = 0, ready = 0;
    (snap.agents || []).forEach(function (a) {
      if (a.state !== "logged_out") { logged += 1; }
      if (a.state === "ready") { ready += 1; }
    });
    var total = document.getElementById("wb-total-waiting");
    total.textContent = String(waiting);
    total.className = "stat-value tone-" + (waiting ? "warn" : "none");
    var lw = document.getElementById("wb-total-longest");
    lw.replaceChildren(waiting ? ticking(longest) : document.createTextNode("-"));
    lw.className = "stat-value tone-" + (tone || "none");
    var sl = offered ? inSl / offered : null;
    var slNode = document.getElementById("wb-total-sl");
    slNode.textContent = percent(sl);
    slNode.className = "stat-value tone-" + (slClass(sl) || "none");
    document.getElementById("wb-total-agents").textContent = ready + " / " + logged;
  }

  function renderQueues() {
    var rows = (snap.queues || []).map(function (q) {
      var t = q.today;
      var slTip = fmt("Answered within %(sl)s s: %(in)s of %(offered)s offered. Hang-ups within %(short)s s: %(n)s, not offered.",
                      { sl: q.service_level_seconds, "in": t.answered_in_sl, offered: t.offered - t.short_abandoned,
                        short: q.short_abandon_seconds, n: t.short_abandoned });
      var abandoned = el("td", { "class": "num wb-abandoned", title: fmt(
        "Abandoned callers who hung up within %(s)s s are not counted.", { s: q.short_abandon_seconds }) },
        String(t.abandoned - t.short_abandoned));
      if (t.short_abandoned) {
        abandoned.appendChild(el("span", { "class": "muted wb-short" }, " " + fmt("+%(n)s short", { n: t.short_abandoned })));
      }
      return el("tr", { "data-queue": q.name },
        el("td", null, el("strong", null, queueTitle(q.name)),
           q.title[LANG] ? el("span", { "class": "muted data wb-sub" }, " " + q.name) : null),
        el("td", { "class": "num wb-waiting" }, q.waiting ? badge(String(q.waiting), "warn") : "0",
           q.callbacks_waiting ? el("span", { "class": "muted wb-callbacks", title: T("Callbacks keep the callers' place: an agent is rung first, then the customer.") },
                                    " " + fmt("+%(n)s callbacks", { n: q.callbacks_waiting })) : null),
        el("td", { "class": "num wb-longest" }, q.waiting ? ticking(q.longest_wait_s, "tone-" + waitTone(q)) : "-"),
        el("td", { "class": "num wb-answered" }, String(t.answered)),
        abandoned,
        el("td", { "class": "num wb-sl", title: slTip },
           t.service_level === null ? el("span", { "class": "muted" }, "-")
                                    : badge(percent(t.service_level), slClass(t.service_level))),
        el("td", { "class": "num wb-logged" }, String(q.agents_logged_in),
           el("span", { "class": "muted" }, " " + fmt("(%(n)s ready)", { n: q.agents_ready }))));
    });
    fill(document.getElementById("wb-queues"), rows, T("No queues configured"), 7);
  }

  function renderCalls(table) {
    var rows = (snap.calls || []).map(function (c) {
      var st = CALL_STATES[c.state] || [c.state, ""];
      var stateCell = el("td", null, badge(T(st[0]), st[1]));
      if (c.supervised) {
        stateCell.appendChild(el("div", { "class": "muted wb-supervised" },
          fmt("Supervised by %(who)s (%(mode)s)", { who: c.supervised.by, mode: T(MODES[c.supervised.mode] || c.supervised.mode) })));
      }
      var duration = el("td", { "class": "num" }, ticking(c.duration_s));
      if (c.waited_s !== null && c.waited_s !== undefined) {
        duration.appendChild(el("div", { "class": "muted wb-waited" }, T("Waiting"), " ", ticking(c.waited_s)));
      }
      var actions = el("td", { "class": "wb-actions" });
      if (c.state === "talking" || c.state === "held") {
        ["listen", "whisper", "barge"].forEach(function (mode) {
          var on = c.supervised && c.supervised.mode === mode;
          actions.appendChild(el("button", { type: "button", "class": "btn btn-small" + (on ? " btn-primary" : ""),
                                             "data-action": mode, "aria-pressed": on ? "true" : "false",
                                             onclick: function () { supervise(c, mode); } }, T(MODES[mode])));
        });
        actions.appendChild(el("button", { type: "button", "class": "btn btn-small", "data-action": "transfer",
                                           onclick: function () { transferDialog(c); } }, T("Transfer")));
      }
      if (c.state !== "ending") {
        actions.appendChild(el("button", { type: "button", "class": "btn btn-small btn-danger", "data-action": "hangup",
                                           onclick: function () { hangup(c); } }, T("Hang up")));
      }
      return el("tr", { "data-call": c.uuid, "data-state": c.state },
        el("td", null, el("span", { "class": "data" }, c.caller || T("unknown caller")),
           c.caller_name ? el("div", { "class": "muted" }, c.caller_name) : null),
        el("td", null, c.queue ? queueTitle(c.queue) : "-"),
        el("td", null, c.agent ? (c.agent_display || c.agent) : "-",
           c.station ? el("div", { "class": "muted data" }, c.station) : null),
        stateCell, duration, actions);
    });
    fill(table, rows, T("No calls in progress"), 6);
  }

  function stateSelect(a) {
    var sel = el("select", { "class": "wb-state-select", "aria-label": T("Change state"),
                             onchange: function () { changeState(a, sel); } },
      el("option", { value: "", selected: "selected" }, T("Change state") + "…"),
      el("option", { value: "ready", disabled: a.state === "ready" ? "disabled" : null }, T("Ready")));
    var group = el("optgroup", { label: T("Not ready") });
    (snap.reason_codes || []).forEach(function (r) {
      group.appendChild(el("option", { value: "not_ready:" + r,
                                       disabled: a.state === "not_ready" && a.reason === r ? "disabled" : null },
                           reasonLabel(r)));
    });
    sel.appendChild(group);
    sel.appendChild(el("option", { value: "logout" }, T("Log out")));
    return sel;
  }

  function renderAgents(table) {
    var rows = (snap.agents || []).map(function (a) {
      var st = AGENT_STATES[a.state] || [a.state, ""];
      var stateCell = el("td", { "class": "wb-state" }, badge(T(st[0]), st[1]));
      if (a.reason) { stateCell.appendChild(el("span", { "class": "wb-reason" }, " " + reasonLabel(a.reason))); }
      var call = a.call ? el("td", { "class": "wb-call" }, el("span", { "class": "data" }, a.call.caller || T("unknown caller")),
                             " ", ticking(a.call.duration_s, "muted")) : el("td", { "class": "wb-call muted" }, "-");
      return el("tr", { "data-agent": a.name, "data-state": a.state, "class": a.state === "logged_out" ? "wb-off" : "" },
        el("td", null, el("strong", null, a.display_name || a.name),
           el("div", { "class": "muted data" }, a.name + (a.station ? " · " + a.station : ""))),
        stateCell,
        el("td", { "class": "num" }, a.state === "logged_out" ? "-" : ticking(a.in_state_s)),
        call,
        el("td", { "class": "num wb-calls-today" }, String(a.calls_today)),
        el("td", { "class": "wb-actions" }, a.state === "logged_out" ? null : stateSelect(a)));
    });
    fill(table, rows, T("No agents"), 6);
  }

  function renderLines() {
    var box = document.getElementById("wb-lines");
    var groups = [["trunk", T("Trunks")], ["station", T("Stations")]];
    var out = [];
    groups.forEach(function (g) {
      var lines = (snap.lines || []).filter(function (l) { return l.kind === g[0]; });
      if (!lines.length) { return; }
      var list = el("div", { "class": "wb-line-list" });
      out.push(el("div", { "class": "wb-line-group" }, el("span", { "class": "wb-line-kind muted" }, g[1]), list));
      lines.forEach(function (l) {
        list.appendChild(el("span", { "class": "wb-line " + LINE_STATES[l.state], "data-line": l.line,
                                      "data-state": l.state, title: l.state === "down" && l.reason ? l.reason : l.line },
          el("span", { "class": "data" }, l.extension || l.line.replace(/^.*-t/, "T")), " ", T(l.state)));
      });
    });
    if (!out.length) { out.push(el("p", { "class": "muted" }, T("Nothing here yet"))); }
    box.replaceChildren.apply(box, out);
  }

  function render() {
    renderTotals();
    renderQueues();
    guarded("wb-calls", renderCalls);
    guarded("wb-agents", renderAgents);
    renderLines();
  }

  // ---- actions --------------------------------------------------------------------------------------
  function failed(err) { HL.toast(T("Failed") + ": " + (err && err.error ? err.error : String(err && err.status))); }

  var stationInput = document.getElementById("wb-station");
  if (stationInput) {
    stationInput.value = localStorage.getItem(STATION_KEY) || "";
    stationInput.addEventListener("change", function () {
      var v = stationInput.value.trim();
      if (v) { localStorage.setItem(STATION_KEY, v); } else { localStorage.removeItem(STATION_KEY); }
    });
  }

  function supervise(c, mode) {
    var station = stationInput ? stationInput.value.trim() : "";
    if (!station) {
      HL.toast(T("Enter your phone's extension first."));
      if (stationInput) { stationInput.focus(); }
      return;
    }
    localStorage.setItem(STATION_KEY, station);
    if (!c.supervised) { HL.toast(fmt("Your phone %(ext)s is ringing: answer it to join the call.", { ext: station })); }
    HL.api("POST", "/calls/" + c.uuid + "/" + mode, { station: station }).then(function () {
      HL.toast(fmt("Joined the call (%(mode)s).", { mode: T(MODES[mode]) }));
    }, failed);
  }

  var dialog = document.getElementById("wb-dialog");

  /* A modal with a title, body nodes, and Cancel / confirm buttons; onConfirm returns a promise (or false
     to keep the dialog open). */
  function openDialog(title, body, confirmLabel, danger, onConfirm) {
    var error = el("p", { "class": "alert alert-error", hidden: "hidden" });
    var ok = el("button", { type: "submit", "class": "btn " + (danger ? "btn-danger" : "btn-primary"),
                            id: "wb-dialog-confirm" }, confirmLabel);
    var form = el("form", { method: "dialog", "class": "form",
                            onsubmit: function (ev) {
                              ev.preventDefault();
                              error.hidden = true;
                              var p = onConfirm(function (msg) { error.textContent = msg; error.hidden = false; });
                              if (!p) { return; }
                              ok.disabled = true;
                              p.then(function () { dialog.close(); }, function (err) {
                                ok.disabled = false;
                                error.textContent = err && err.error ? err.error : T("Failed");
                                error.hidden = false;
                              });
                            } },
      el("h2", { id: "wb-dialog-title" }, title), body, error,
      el("div", { "class": "wb-dialog-buttons" },
        el("button", { type: "button", "class": "btn", onclick: function () { dialog.close(); } }, T("Cancel")), ok));
    dialog.replaceChildren(form);
    dialog.showModal();
    ok.focus();
  }

  function hangup(c) {
    openDialog(fmt("Hang up this call from %(caller)s?", { caller: c.caller || T("unknown caller") }),
               el("p", { "class": "muted" }, [c.queue ? queueTitle(c.queue) : "", c.agent || ""].filter(Boolean).join(" · ")),
               T("Hang up"), true, function () {
      return HL.api("POST", "/calls/" + c.uuid + "/hangup", {}).then(function () { HL.toast(T("Call ended.")); });
    });
  }

  function transferDialog(c) {
    var kind = el("select", { name: "kind" },
      el("option", { value: "extension" }, T("Extension")),
      el("option", { value: "queue" }, T("Queue")),
      el("option", { value: "number" }, T("Outside number")));
    var value = el("input", { name: "target", autocomplete: "off", inputmode: "numeric" });
    var queues = el("select", { name: "queue", hidden: "hidden" });
    (snap.queues || []).forEach(function (q) { queues.appendChild(el("option", { value: q.name }, queueTitle(q.name))); });
    kind.addEventListener("change", function () {
      queues.hidden = kind.value !== "queue";
      value.hidden = kind.value === "queue";
    });
    var body = el("div", { "class": "form-row" },
      el("label", null, T("Transfer to"), kind),
      el("label", null, T("Target"), value, queues));
    openDialog(fmt("Transfer the call from %(caller)s", { caller: c.caller || T("unknown caller") }), body,
               T("Transfer"), false, function (showError) {
      var target = {};
      var v = kind.value === "queue" ? queues.value : value.value.trim();
      if (!v) { showError(T("Number or extension is required.")); value.focus(); return false; }
      target[kind.value] = v;
      return HL.api("POST", "/calls/" + c.uuid + "/transfer", target).then(function () { HL.toast(T("Transferred.")); });
    });
    value.focus();
  }

  function changeState(a, sel) {
    var choice = sel.value;
    sel.blur();
    if (!choice) { return; }
    var path = "/agents/" + encodeURIComponent(a.name) + "/";
    function done() { HL.toast(T("State changed.")); }
    if (choice === "logout") {
      sel.value = "";
      openDialog(fmt("Log out agent %(agent)s?", { agent: a.display_name || a.name }),
                 el("p", { "class": "muted" }, a.call ? T("The call in progress goes on; the agent gets no new calls.") : ""),
                 T("Log out"), true, function () { return HL.api("POST", path + "logout", {}).then(done); });
      return;
    }
    var body = choice === "ready" ? { state: "ready" } : { state: "not_ready", reason: choice.slice(10) };
    HL.api("POST", path + "state", body).then(done, function (err) { sel.value = ""; failed(err); });
  }

  // ---- live -----------------------------------------------------------------------------------------
  function setLive(on) {
    var b = document.getElementById("wb-live");
    b.className = "badge " + (on ? "ok" : "warn");
    document.getElementById("wb-live-dot").className = "live-dot" + (on ? " on" : "");
    document.getElementById("wb-live-text").textContent = on ? T("Connected") : T("Reconnecting...");
  }

  var fs = document.getElementById("wb-fullscreen");
  if (fs) {
    fs.addEventListener("click", function () {
      if (document.fullscreenElement) { document.exitFullscreen(); }
      else if (document.documentElement.requestFullscreen) { document.documentElement.requestFullscreen(); }
    });
  }

  render();
  tick();
  setInterval(tick, 1000);
  HL.live(["wallboard"], function (msg) {
    if (msg.topic === "wallboard" && msg.type === "snapshot" && msg.data) {
      snap = msg.data;
      received = performance.now();
      render();
    }
  }, setLive);
})();
