/* QA console: the simulator's callers and phones through /api/v1/sim (refreshed every second). */
(function () {
  "use strict";
  var el = HL.el, T = HL.T;
  var KEYS = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "*", "0", "#"];

  function fail(err) { HL.toast(T("Failed") + ": " + err.error); }

  function sendKeys(c, digits) {
    return HL.api("POST", "/sim/calls/" + c.uuid + "/dtmf", { digits: digits });
  }

  /* One caller: the keys they have pressed that the box heard, a keypad, a keys field (Enter sends), actions.
     The row is made once and then updated in place, so typing in its field survives the refresh. */
  function callRow(c) {
    var keys = el("input", { "class": "sim-keys", size: "8", placeholder: "1#", "aria-label": T("Keys"),
                             inputmode: "tel", autocomplete: "off" });
    var form = el("form", { "class": "sim-keyrow" }, keys,
      el("button", { "class": "btn btn-small", type: "submit" }, T("Send keys")));
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var digits = keys.value.replace(/\s+/g, "");
      if (!digits) { keys.focus(); return; }
      sendKeys(c, digits).then(function () { keys.value = ""; keys.focus(); }, fail);
    });
    var pad = el("span", { "class": "sim-pad" });
    KEYS.forEach(function (k) {
      var key = el("button", { "class": "key", type: "button", "data-key": k }, k);
      key.addEventListener("click", function () { sendKeys(c, k).catch(fail); });
      pad.appendChild(key);
    });
    var hangup = el("button", { "class": "btn btn-small btn-danger", type: "button" }, T("Hang up"));
    hangup.addEventListener("click", function () { HL.api("DELETE", "/sim/calls/" + c.uuid).catch(fail); });
    var row = el("tr", { "data-call": c.uuid },
      el("td", { "class": "data" }, c.caller_id || ""), el("td", { "class": "data" }, c.dialed || ""),
      el("td", { "class": "data" }, c.line || ""), el("td", { "class": "sim-state" }),
      el("td", { "class": "data sim-peer" }),
      el("td", {}, el("div", { "class": "sim-heard" }, el("span", { "class": "muted" }, T("Keys heard") + " "),
                      el("b", { "class": "data sim-heard-keys" })), pad, form),
      el("td", {},
        el("a", { "class": "btn btn-small", href: "/api/v1/sim/calls/" + c.uuid + "/heard.wav" }, T("Heard (WAV)")),
        " ", hangup));
    return updateCall(row, c);
  }

  function updateCall(row, c) {
    var state = row.querySelector(".sim-state");
    state.textContent = "";
    state.appendChild(el("span", { "class": "badge busy" }, T(c.state)));
    row.querySelector(".sim-peer").textContent = c.peer || "";
    row.querySelector(".sim-heard-keys").textContent = c.keys || "–";
    return row;
  }

  function stationRow(s) {
    var number = el("input", { size: "10", placeholder: "1002", "aria-label": T("Number") });
    var act = function (action, body) {
      return function () { HL.api("POST", "/sim/stations/" + s.extension + "/" + action, body ? body() : {}).catch(fail); };
    };
    var tone = s.state === "ringing" ? "warn" : s.state === "idle" ? "ok" : "busy";
    var dial = el("form", { "class": "sim-inline" }, number, " ",
      el("button", { "class": "btn btn-small", type: "submit" }, T("Dial")));
    dial.addEventListener("submit", function (ev) { ev.preventDefault(); act("dial", function () { return { number: number.value }; })(); });
    return el("tr", { "data-station": s.extension, "data-state": s.state + "/" + s.up },
      el("td", { "class": "data" }, s.extension), el("td", { "class": "data" }, s.line),
      el("td", {}, el("span", { "class": "badge " + (s.up ? tone : "bad") }, T(s.up ? s.state : "down"))),
      el("td", {},
        el("button", { "class": "btn btn-small", type: "button", onclick: act("answer") }, T("Answer")), " ",
        el("button", { "class": "btn btn-small", type: "button", onclick: act("hangup") }, T("Hang up")), " ", dial));
  }

  /* Rows keyed by key(r): kept and updated (update) while the call or phone is there, so a field being typed in
     keeps its text and focus; made (make) when new; removed when gone. */
  function fill(id, rows, key, make, update, emptyCols) {
    var body = document.querySelector("#" + id + " tbody");
    var old = {};
    Array.prototype.forEach.call(body.querySelectorAll("tr[data-key]"), function (tr) { old[tr.getAttribute("data-key")] = tr; });
    var placeholder = body.querySelector("tr.sim-empty");
    if (placeholder) { body.removeChild(placeholder); }
    rows.forEach(function (r) {
      var k = key(r), tr = old[k];
      if (tr && update) { update(tr, r); } else {
        var fresh = make(r);
        fresh.setAttribute("data-key", k);
        if (tr) { body.replaceChild(fresh, tr); }
        tr = fresh;
      }
      delete old[k];
      body.appendChild(tr);                      // in the order given (moves an existing row, keeps its focus)
    });
    Object.keys(old).forEach(function (k) { body.removeChild(old[k]); });
    if (!rows.length) {
      body.appendChild(el("tr", { "class": "sim-empty" },
        el("td", { colspan: String(emptyCols), "class": "muted" }, T("Nothing here yet"))));
    }
  }

  function refresh() {
    HL.api("GET", "/sim/calls").then(function (r) {
      fill("sim-calls", r.calls, function (c) { return c.uuid; }, callRow, updateCall, 7);
    }, function () {});
    HL.api("GET", "/sim/stations").then(function (r) {
      // a phone's row is made again when its state changes (unless someone types a number in it)
      fill("sim-stations", r.stations, function (st) { return st.extension; }, stationRow, function (tr, st) {
        var typing = tr.contains(document.activeElement) && document.activeElement.tagName === "INPUT";
        if (!typing && tr.getAttribute("data-state") !== st.state + "/" + st.up) {
          var fresh = stationRow(st);
          fresh.setAttribute("data-key", st.extension);
          tr.parentNode.replaceChild(fresh, tr);
        }
      }, 4);
    }, function () {});
  }

  document.getElementById("sim-call").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var f = ev.target;
    HL.api("POST", "/sim/calls", { from: f.elements.from.value, to: f.elements.to.value, name: f.elements.name.value })
      .then(function () { HL.toast(T("Saved")); refresh(); }, fail);
  });
  document.getElementById("sim-faults").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var f = ev.target;
    HL.api("POST", "/sim/lines/" + encodeURIComponent(f.elements.line.value) + "/faults",
           { down: f.elements.down.checked, busy: f.elements.busy.checked, never_answer: f.elements.never_answer.checked })
      .then(function () { HL.toast(T("Saved")); refresh(); }, fail);
  });
  refresh();
  setInterval(refresh, 1000);
})();
