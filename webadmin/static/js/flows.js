/* Flow editor: line-numbered YAML with problems marked at their line, the menu tree, versions (save, publish,
   roll back), and the dry run (a simulated caller; keypad; live audio through Web Audio; the path taken). */
(function () {
  "use strict";
  var T = HL.T, el = HL.el;
  var init = JSON.parse(document.getElementById("flow-initial").textContent);
  var NAME = init.name;
  var LINE = 20, PAD = 8;               // must match .code-editor line-height and padding in panel.css

  function fmt(s, values) {
    return T(s).replace(/%\((\w+)\)s/g, function (_, k) { return values[k] === undefined ? "" : String(values[k]); });
  }
  function clear(node) { while (node.firstChild) { node.removeChild(node.firstChild); } }
  function when(ts) { return HL.time(ts); }

  /* ---- editor ------------------------------------------------------------------------------------------ */
  var src = document.getElementById("flow-source");
  var gutter = document.getElementById("ce-gutter");
  var marks = document.getElementById("ce-marks");
  var problemsBox = document.getElementById("problems");
  var statusBadge = document.getElementById("flow-status");
  var state = { problems: init.problems || [], warnings: init.warnings || [], tree: init.tree,
                saved: src.value, loaded: init.version, versions: init.versions || [], checking: 0 };
  var lineCount = 0;

  function lines() { return src.value.split("\n").length; }

  function drawGutter() {
    var n = lines();
    if (n === lineCount) { return; }
    lineCount = n;
    clear(gutter);
    for (var i = 1; i <= n; i++) { gutter.appendChild(el("div", { "class": "ce-num", "data-line": i }, String(i))); }
    markGutter();
  }

  function markGutter() {
    var bad = {}, warn = {};
    state.problems.forEach(function (p) { bad[p.line] = true; });
    state.warnings.forEach(function (p) { warn[p.line] = true; });
    Array.prototype.forEach.call(gutter.children, function (d) {
      var ln = +d.getAttribute("data-line");
      d.className = "ce-num" + (bad[ln] ? " err" : warn[ln] ? " warn" : "");
    });
  }

  function drawMarks() {
    clear(marks);
    var seen = {};
    function mark(p, kind) {
      if (!p.line || seen[p.line] === "error") { return; }
      seen[p.line] = kind;
      marks.appendChild(el("div", { "class": "ce-mark " + kind, "data-line": p.line,
                                    style: "top:" + (PAD + (p.line - 1) * LINE) + "px" }));
    }
    state.problems.forEach(function (p) { mark(p, "error"); });
    state.warnings.forEach(function (p) { mark(p, "warning"); });
    syncScroll();
    markGutter();
  }

  function syncScroll() {
    gutter.style.transform = "translateY(" + (-src.scrollTop) + "px)";
    marks.style.transform = "translateY(" + (-src.scrollTop) + "px)";
  }

  function goToLine(line, column) {
    var text = src.value, start = 0;
    for (var i = 1; i < line; i++) { start = text.indexOf("\n", start) + 1; if (start === 0) { return; } }
    var end = text.indexOf("\n", start);
    if (end < 0) { end = text.length; }
    var from = Math.min(start + Math.max(0, (column || 1) - 1), end);
    var to = from;                                   // select the word the problem points at
    while (to < end && !/[\s,:{}\[\]]/.test(text.charAt(to))) { to++; }
    src.focus();
    src.setSelectionRange(from, to > from ? to : end);
    src.scrollTop = Math.max(0, (line - 1) * LINE - src.clientHeight / 3);
    syncScroll();
  }

  function drawProblems() {
    clear(problemsBox);
    var all = state.problems.map(function (p) { return [p, "error"]; })
      .concat(state.warnings.map(function (p) { return [p, "warning"]; }));
    if (!all.length) { return; }
    var list = el("ul", { "class": "problem-list" });
    all.forEach(function (pair) {
      var p = pair[0];
      list.appendChild(el("li", { "class": "problem " + pair[1], "data-line": p.line },
        el("button", { type: "button", "class": "linkish data", onclick: function () { goToLine(p.line, p.column); } },
           p.line + ":" + p.column),
        el("span", { "class": "badge " + (pair[1] === "error" ? "bad" : "warn") }, T(pair[1] === "error" ? "Error" : "Warning")),
        p.key ? el("span", { "class": "data muted" }, p.key) : null,
        el("span", { "class": "problem-msg" }, p.message)));
    });
    problemsBox.appendChild(list);
  }

  function setStatus() {
    var dirty = src.value !== state.saved;
    statusBadge.className = "badge";
    if (state.problems.length) {
      statusBadge.classList.add("bad");
      statusBadge.textContent = fmt(state.problems.length === 1 ? "%(n)s problem" : "%(n)s problems", { n: state.problems.length });
    } else if (state.checking) {
      statusBadge.textContent = T("Checking...");
    } else if (dirty) {
      statusBadge.classList.add("warn");
      statusBadge.textContent = T("Valid, not saved");
    } else {
      statusBadge.classList.add("ok");
      statusBadge.textContent = !state.warnings.length ? T("Valid") :
        fmt(state.warnings.length === 1 ? "Valid (%(n)s warning)" : "Valid (%(n)s warnings)", { n: state.warnings.length });
    }
    document.getElementById("btn-publish").disabled = state.problems.length > 0;
    document.getElementById("btn-save").disabled = state.problems.length > 0 || !dirty;
    var origin = document.getElementById("editor-origin");
    origin.textContent = (state.loaded ? fmt("version %(n)s", { n: state.loaded }) : "") + (dirty ? " · " + T("changed") : "");
  }

  function showResult(r) {
    state.problems = r.problems || [];
    state.warnings = r.warnings || [];
    if (r.tree) { state.tree = r.tree; }
    drawMarks();
    drawProblems();
    drawTree(!r.tree && state.problems.length > 0);
    setStatus();
  }

  var timer = null, seq = 0;
  function check() {
    clearTimeout(timer);
    var mine = ++seq;
    state.checking++;
    setStatus();
    return HL.api("POST", "/flows/" + NAME + "/validate", { source: src.value }).then(function (r) {
      state.checking--;
      if (mine === seq) { showResult(r); }
      return r;
    }, function (err) {
      state.checking--;
      setStatus();
      HL.toast(T("Failed") + ": " + err.error);
    });
  }

  src.addEventListener("input", function () {
    drawGutter();
    setStatus();
    clearTimeout(timer);
    timer = setTimeout(check, 500);
  });
  src.addEventListener("scroll", syncScroll);
  src.addEventListener("keydown", function (ev) {
    if (ev.key === "Tab" && !ev.shiftKey && !ev.ctrlKey && !ev.altKey) {   // YAML indents with spaces
      ev.preventDefault();
      var s = src.selectionStart, e = src.selectionEnd;
      src.setRangeText("  ", s, e, "end");
      src.dispatchEvent(new Event("input"));
    } else if ((ev.ctrlKey || ev.metaKey) && ev.key === "s") {
      ev.preventDefault();
      save(false);
    }
  });
  window.addEventListener("beforeunload", function (ev) {
    if (src.value !== state.saved) { ev.preventDefault(); ev.returnValue = ""; }
  });

  /* ---- menu tree --------------------------------------------------------------------------------------- */
  var treeBox = document.getElementById("flow-tree");

  function drawTree(stale) {
    clear(treeBox);
    document.getElementById("tree-note").textContent = stale ? T("last valid version") : "";
    var tree = state.tree;
    if (!tree) { treeBox.appendChild(el("p", { "class": "muted" }, T("Fix the problems to see the menu tree."))); return; }
    var byName = {};
    tree.blocks.forEach(function (b) { byName[b.name] = b; });
    var shown = {};

    function node(name, via) {
      var b = byName[name];
      var li = el("li", { "class": "tree-node", "data-block": name });
      var head = el("div", { "class": "tree-head" },
        via ? via : null,
        el("button", { type: "button", "class": "tree-block data", onclick: function () { if (b) { goToLine(b.line); } } }, name),
        name === tree.start ? el("span", { "class": "badge ok" }, T("start")) : null,
        name === tree.error ? el("span", { "class": "badge warn" }, T("on error")) : null);
      li.appendChild(head);
      if (!b) { return li; }
      if (shown[name]) {
        head.appendChild(el("span", { "class": "muted tree-again" }, "↺ " + T("shown above")));
        return li;
      }
      shown[name] = true;
      var steps = el("ul", { "class": "tree-steps" });
      b.steps.forEach(function (s) {
        var row = el("li", { "class": "tree-step", "data-app": s.app, "data-line": s.line },
          el("button", { type: "button", "class": "linkish tree-app", onclick: function () { goToLine(s.line); } }, s.app),
          s.detail ? el("span", { "class": "muted data" }, s.detail) : null);
        if (s.targets.length) {
          var kids = el("ul", { "class": "tree-children" });
          s.targets.forEach(function (t) {
            var label = t.key ? el("span", { "class": "key-chip", title: t.via }, t.key)
                              : t.via ? el("span", { "class": "via-chip" }, t.via) : el("span", { "class": "muted" }, "→");
            kids.appendChild(node(t.block, label));
          });
          row.appendChild(kids);
        }
        steps.appendChild(row);
      });
      li.appendChild(steps);
      return li;
    }
    var root = el("ul", { "class": "tree-root" });
    root.appendChild(node(tree.start));
    if (tree.error && !shown[tree.error]) { root.appendChild(node(tree.error)); }
    var orphans = tree.blocks.filter(function (b) { return !shown[b.name]; });
    treeBox.appendChild(root);
    if (orphans.length) {
      treeBox.appendChild(el("p", { "class": "muted small" }, T("Not reachable") + ": ",
        el("span", { "class": "data" }, orphans.map(function (b) { return b.name; }).join(", "))));
    }
  }

  function highlightBlock(name) {
    Array.prototype.forEach.call(treeBox.querySelectorAll(".tree-node.current"), function (n) { n.classList.remove("current"); });
    Array.prototype.some.call(treeBox.querySelectorAll(".tree-node"), function (n) {
      if (n.getAttribute("data-block") === name) { n.classList.add("current"); return true; }
      return false;
    });
  }

  /* ---- versions ---------------------------------------------------------------------------------------- */
  var versionsBody = document.querySelector("#versions-table tbody");

  function drawVersions() {
    clear(versionsBody);
    var active = state.versions.filter(function (v) { return v.active; })[0];
    var pick = document.getElementById("dr-version"), chosen = pick.value;
    clear(pick);
    state.versions.slice().reverse().forEach(function (v) {
      pick.appendChild(el("option", { value: v.active ? "" : v.version },
        "v" + v.version + (v.active ? " · " + T("active") : active && v.version > active.version ? " · " + T("draft") : "")));
    });
    pick.value = chosen && state.versions.some(function (v) { return String(v.version) === chosen && !v.active; }) ? chosen : "";
    state.versions.slice().reverse().forEach(function (v) {
      var badge = v.active ? el("span", { "class": "badge ok" }, T("active"))
        : (active && v.version > active.version ? el("span", { "class": "badge warn" }, T("draft")) : el("span", { "class": "badge" }, T("earlier")));
      var actions = el("td", { "class": "right version-actions" },
        el("button", { type: "button", "class": "btn btn-small", onclick: function () { openVersion(v.version); } }, T("Edit")));
      if (!v.active) {
        var label = active && v.version < active.version ? T("Roll back to this") : T("Publish");
        actions.appendChild(document.createTextNode(" "));
        actions.appendChild(el("button", { type: "button", "class": "btn btn-small" + (active && v.version < active.version ? " btn-danger" : " btn-primary"),
                                           "data-activate": v.version, onclick: function () { activate(v.version); } }, label));
      }
      versionsBody.appendChild(el("tr", { "data-version": v.version, "class": v.version === state.loaded ? "loaded" : null },
        el("td", { "class": "data" }, "v" + v.version), el("td", { "class": "data nowrap" }, when(v.created_at)),
        el("td", { "class": "data" }, v.author), el("td", {}, badge), actions));
    });
  }

  function openVersion(n) {
    if (src.value !== state.saved && !window.confirm(T("Discard your changes?"))) { return; }
    HL.api("GET", "/flows/" + NAME + "/versions/" + n).then(function (r) {
      src.value = r.source;
      state.saved = r.source;
      state.loaded = r.version;
      drawGutter();
      showResult(r);
      drawVersions();
      src.scrollTop = 0;
      syncScroll();
    }, function (err) { HL.toast(T("Failed") + ": " + err.error); });
  }

  function activate(n) {
    var active = state.versions.filter(function (v) { return v.active; })[0];
    var rollback = active && n < active.version;
    if (!window.confirm(fmt(rollback ? "Roll back to version %(n)s? New calls will use it at once." :
                                       "Publish version %(n)s? New calls will use it at once.", { n: n }))) { return; }
    HL.api("POST", "/flows/" + NAME + "/activate", { version: n }).then(function (r) {
      state.versions = r.versions;
      drawVersions();
      HL.toast(fmt(rollback ? "Rolled back to version %(n)s" : "Version %(n)s is published", { n: n }));
    }, function (err) { showError(err); });
  }

  function showError(err) {
    if (err.status === 400 && err.body && err.body.problems) { showResult(err.body); }
    HL.toast(T("Failed") + ": " + err.error);
  }

  function save(publish) {
    var body = { source: src.value, publish: publish };
    return fetchJson("POST", "/flows/" + NAME + "/versions", body).then(function (r) {
      state.saved = body.source;
      state.loaded = r.version;
      state.versions = r.versions;
      drawVersions();
      setStatus();
      if (publish) { HL.toast(r.published ? fmt("Version %(n)s is published", { n: r.version }) : fmt("Version %(n)s was already published", { n: r.version })); }
      else { HL.toast(r.created ? fmt("Saved as version %(n)s (not published)", { n: r.version }) : fmt("Same as version %(n)s", { n: r.version })); }
    }, showError);
  }

  /* HL.api without losing the error body (the problems list of a refused flow). */
  function fetchJson(method, path, body) {
    return fetch("/api/v1" + path, { method: method, credentials: "same-origin",
      headers: { "X-XSRFToken": HL.cookie("_xsrf"), "Accept": "application/json", "Content-Type": "application/json" },
      body: JSON.stringify(body) }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (data) {
        if (!r.ok) { return Promise.reject({ status: r.status, error: data.error || r.statusText, body: data }); }
        return data;
      });
    });
  }

  document.getElementById("btn-check").addEventListener("click", check);
  document.getElementById("btn-save").addEventListener("click", function () { save(false); });
  document.getElementById("btn-publish").addEventListener("click", function () {
    if (window.confirm(T("Publish this version? New calls will use it at once."))) { save(true); }
  });

  /* ---- dry run ----------------------------------------------------------------------------------------- */
  var dr = { id: null, ws: null, audio: null, frames: 0, voiced: 0, peak: 0, level: 0, nextTime: 0, scheduled: 0,
             chunk: [], started: 0, tick: null, early: {}, events: [], keys: "" };
  var $ = function (id) { return document.getElementById(id); };
  var trailBox = $("dr-trail");

  function setCallState(key, cls) {
    var b = $("dr-state");
    b.className = "badge " + (cls || "");
    b.textContent = T(key);
  }

  function keypad(on) {
    Array.prototype.forEach.call(document.querySelectorAll("#keypad .key"), function (k) { k.disabled = !on; });
    $("dr-hangup").disabled = !on;
    $("dr-call").disabled = on;
  }

  function audioContext() {
    if (!dr.audio) {
      var AC = window.AudioContext || window.webkitAudioContext;
      if (AC) { dr.audio = new AC(); }
    }
    if (dr.audio && dr.audio.state === "suspended") { dr.audio.resume(); }
    return dr.audio;
  }

  function play(samples) {
    var ac = dr.audio;
    if (!ac) { return; }
    var buf = ac.createBuffer(1, samples.length, 8000);
    buf.getChannelData(0).set(samples);
    var node = ac.createBufferSource();
    node.buffer = buf;
    node.connect(ac.destination);
    var at = Math.max(ac.currentTime + 0.08, dr.nextTime);
    node.start(at);
    dr.nextTime = at + samples.length / 8000;
    dr.scheduled += samples.length / 8000;
  }

  function onFrame(data) {
    var s = new Int16Array(data);
    var sum = 0, f = new Float32Array(s.length);
    for (var i = 0; i < s.length; i++) { sum += s[i] * s[i]; f[i] = s[i] / 32768; }
    var rms = Math.sqrt(sum / Math.max(1, s.length));
    dr.frames++;
    if (rms > 100) { dr.voiced++; }
    dr.peak = Math.max(dr.peak, rms);
    dr.level = Math.max(rms, dr.level * 0.85);
    dr.chunk.push(f);
    if (dr.chunk.length >= 5) {                 // 100 ms per buffer: smooth playback, little delay
      var all = new Float32Array(dr.chunk.length * 160), o = 0;
      dr.chunk.forEach(function (c) { all.set(c, o); o += c.length; });
      dr.chunk = [];
      play(all);
    }
  }

  function showAudio() {
    var frames = $("dr-frames");
    frames.textContent = String(dr.frames);
    frames.setAttribute("data-frames", dr.frames);
    frames.setAttribute("data-voiced", dr.voiced);
    frames.setAttribute("data-rms", Math.round(dr.peak));
    frames.setAttribute("data-scheduled", dr.scheduled.toFixed(2));   // seconds handed to Web Audio
    $("dr-voiced").textContent = String(dr.voiced);
    $("dr-rms").textContent = String(Math.round(dr.level));
    var pct = dr.level > 1 ? Math.min(100, Math.max(0, (20 * Math.log10(dr.level / 32768) + 60) / 60 * 100)) : 0;
    $("dr-meter").style.width = pct.toFixed(0) + "%";
    if (dr.id) { $("dr-timer").textContent = HL.duration((Date.now() - dr.started) / 1000); }
  }

  function trailText(ev) {
    var d = ev.data || {};
    if (ev.kind === "ivr.step") {
      switch (d.step) {
        case "answer": return T("Answered");
        case "menu.key": return fmt("Pressed %(key)s: go to %(target)s", d);
        case "menu.invalid": return fmt("Key %(key)s is not an option", d);
        case "menu.timeout": return T("No key pressed");
        case "menu.repeat": return T("Menu repeated");
        case "menu.back": return fmt("Back to %(target)s", d);
        case "menu.fallback": return fmt("Too many tries: go to %(target)s", d);
        case "language": return fmt("Language: %(language)s", d);
        case "collect": return fmt("Entered %(var)s = %(value)s", d);
        case "collect.invalid": return fmt("Entry not accepted: %(value)s", d);
        case "collect.failed": return fmt("No valid %(var)s entered", d);
        case "lookup": return fmt(d.found ? "Looked up %(table)s: found" : "Looked up %(table)s: not found", d);
        case "time": return fmt("Business hours: %(state)s", d);
        case "branch": return fmt("Branch: go to %(target)s", d);
        case "blacklist": return d.reason ? fmt("Blocked number: %(reason)s", d) : T("Number not blocked");
        case "queue": return fmt("Queue %(queue)s", d);
        case "queue.result": return fmt("Queue result: %(result)s", d);
        case "transfer": return fmt("Transfer to %(target)s: %(result)s", d);
        case "hangup": return T("The flow hung up");
        case "end": return T("End of the block: hung up");
        case "error": return fmt("Error in %(app)s: %(error)s", d);
        default: return d.step + " " + JSON.stringify(Object.keys(d).reduce(function (o, k) {
          if (["step", "flow", "block", "index"].indexOf(k) < 0) { o[k] = d[k]; } return o; }, {}));
      }
    }
    if (ev.kind === "media.played") { return fmt("Played %(prompt)s", d); }
    if (ev.kind === "call.offered") { return fmt("Call from %(caller_id)s", d); }
    if (ev.kind === "call.answered") { return T("The box answered"); }
    if (ev.kind === "call.ended") { return fmt("Call ended (%(cause)s)", d); }
    if (ev.kind === "call.error") { return fmt("Error: %(error)s", d); }
    return ev.kind;
  }

  var SHOWN = { "ivr.step": 1, "media.played": 1, "call.offered": 1, "call.ended": 1, "call.error": 1,
                "queue.joined": 1, "queue.abandoned": 1, "queue.answered": 1, "call.bridged": 1 };

  function drawTrail() {
    clear(trailBox);
    var t0 = dr.events.length ? dr.events[0].ts : 0;
    dr.events.forEach(function (ev) {
      if (!SHOWN[ev.kind] || (ev.kind === "ivr.step" && ev.data.step === "play")) { return; }
      var d = ev.data || {};
      var choice = ev.kind === "ivr.step" && (d.step === "menu.key" || d.step === "language" || d.step === "collect");
      trailBox.appendChild(el("li", { "class": "trail-item" + (choice ? " choice" : "") + (ev.kind === "call.ended" ? " ended" : ""),
                                      "data-kind": ev.kind, "data-step": d.step || null, "data-key": d.key || null,
                                      "data-target": d.target || null },
        el("span", { "class": "trail-time data" }, "+" + (ev.ts - t0).toFixed(1) + "s"),
        d.block ? el("span", { "class": "trail-block data" }, d.block) : null,
        el("span", { "class": "trail-text" }, trailText(ev))));
    });
    trailBox.scrollTop = trailBox.scrollHeight;
  }

  function addEvent(ev) {
    dr.events.push(ev);
    if (ev.kind === "call.answered") { setCallState("Connected", "ok"); }
    if (ev.kind === "ivr.step" && ev.data.block) { highlightBlock(ev.data.block); }
    drawTrail();
    if (ev.kind === "call.ended") { finish(); }
  }

  function finish() {
    var id = dr.id;
    if (!id) { return; }
    dr.id = null;
    keypad(false);
    setCallState("Ended", "");
    clearInterval(dr.tick);
    if (dr.ws) { dr.ws.close(); dr.ws = null; }
    showAudio();
    highlightBlock("");
    // the complete journal (events sent before the page knew the call are in it too)
    setTimeout(function () {
      HL.api("GET", "/sim/calls/" + id).then(function (r) {
        if (r.events && r.events.length >= dr.events.length) { dr.events = r.events; drawTrail(); }
      }, function () {});
    }, 300);
  }

  function start() {
    if (src.value !== state.saved) { HL.toast(T("The dry run uses a saved version: save your changes to try them")); }
    audioContext();                      // created on the click: browsers allow sound after a gesture
    dr.frames = dr.voiced = dr.peak = dr.level = dr.scheduled = 0;
    dr.events = [];
    dr.keys = "";
    $("dr-keys").textContent = "-";
    clear(trailBox);
    setCallState("Calling...", "busy");
    $("dr-call").disabled = true;
    var body = { from: $("dr-from").value.trim(), language: $("dr-language").value };
    if ($("dr-version").value) { body.version = +$("dr-version").value; }
    HL.api("POST", "/flows/" + NAME + "/dry-run", body)
      .then(function (r) {
        dr.id = r.id;
        dr.started = Date.now();
        dr.nextTime = 0;
        keypad(true);
        setCallState("Ringing", "busy");
        var ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + r.media);
        ws.binaryType = "arraybuffer";
        ws.onmessage = function (m) { if (typeof m.data !== "string") { onFrame(m.data); } };
        dr.ws = ws;
        dr.tick = setInterval(showAudio, 100);
        (dr.early[r.id] || []).forEach(addEvent);
        delete dr.early[r.id];
      }, function (err) {
        setCallState("Idle", "");
        $("dr-call").disabled = false;
        HL.toast(T("Failed") + ": " + err.error);
      });
  }

  function press(key) {
    if (!dr.id) { return; }
    dr.keys += key;
    $("dr-keys").textContent = dr.keys;
    HL.api("POST", "/sim/calls/" + dr.id + "/dtmf", { digits: key }).catch(function (err) {
      HL.toast(T("Failed") + ": " + err.error);
    });
  }

  function hangup() {
    if (!dr.id) { return; }
    HL.api("DELETE", "/sim/calls/" + dr.id).catch(function () {});
  }

  $("dr-call").addEventListener("click", start);
  $("dr-hangup").addEventListener("click", hangup);
  Array.prototype.forEach.call(document.querySelectorAll("#keypad .key"), function (k) {
    k.addEventListener("click", function () { press(k.getAttribute("data-key")); });
  });
  $("dryrun").addEventListener("keydown", function (ev) {
    if (dr.id && /^[0-9*#]$/.test(ev.key) && ev.target.tagName !== "INPUT") { ev.preventDefault(); press(ev.key); }
  });
  window.addEventListener("pagehide", function () {
    if (dr.id) {
      fetch("/api/v1/sim/calls/" + dr.id, { method: "DELETE", keepalive: true, credentials: "same-origin",
                                            headers: { "X-XSRFToken": HL.cookie("_xsrf") } });
    }
  });

  var hubUp = false;
  HL.live([], function (msg) {
    if (msg.type !== "dryrun") { return; }
    if (msg.call === dr.id) { addEvent(msg.event); }
    else if (!dr.id) { (dr.early[msg.call] = dr.early[msg.call] || []).push(msg.event); }
  }, function (up) { hubUp = up; });
  /* Without the live channel (reconnecting), the journal is fetched instead, so the path and the end still show. */
  setInterval(function () {
    var id = dr.id;
    if (hubUp || !id) { return; }
    HL.api("GET", "/sim/calls/" + id).then(function (r) {
      if (dr.id !== id) { return; }
      if (r.events && r.events.length > dr.events.length) { dr.events = r.events; drawTrail(); }
      if (r.state === "ended") { finish(); }
    }, function () {});
  }, 2000);

  /* ---- start ------------------------------------------------------------------------------------------- */
  drawGutter();
  drawMarks();
  drawProblems();
  drawTree(false);
  drawVersions();
  setStatus();
})();
