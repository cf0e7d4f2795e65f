/* QA console: the simulator's callers and phones through /api/v1/sim (refreshed every second). */
(function () {
  "use strict";
  var el = HL.el, T = HL.T;
  var KEYS = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "*", "0", "#"];

  function fail(err) { HL.toast(T("Failed") + ": " + err.error); }

  function callRow(c) {
    var keys = el("input", { "class": "sim-keys", size: "8", placeholder: "1#", "aria-label": T("Keys") });
    var send = el("button", { "class": "btn btn-small", type: "button", onclick: function () {
      if (!keys.value) { return; }
      HL.api("POST", "/sim/calls/" + c.uuid + "/dtmf", { digits: keys.value }).then(function () { keys.value = ""; }, fail);
    } }, T("Send keys"));
    var pad = el("span", { "class": "sim-pad" });
    KEYS.forEach(function (k) {
      pad.appendChild(el("button", { "class": "key", type: "button", "data-key": k, onclick: function () {
        HL.api("POST", "/sim/calls/" + c.uuid + "/dtmf", { digits: k }).catch(fail);
      } }, k));
    });
    return el("tr", { "data-call": c.uuid },
      el("td", { "class": "data" }, c.caller_id || ""), el("td", { "class": "data" }, c.dialed || ""),
      el("td", { "class": "data" }, c.line || ""), el("td", {}, el("span", { "class": "badge busy" }, T(c.state))),
      el("td", { "class": "data" }, c.peer || ""),
      el("td", {}, pad, el("div", { "class": "sim-keyrow" }, keys, send)),
      el("td", {},
        el("a", { "class": "btn btn-small", href: "/api/v1/sim/calls/" + c.uuid + "/heard.wav" }, T("Heard (WAV)")),
        " ",
        el("button", { "class": "btn btn-small btn-danger", type: "button", onclick: function () {
          HL.api("DELETE", "/sim/calls/" + c.uuid).catch(fail);
        } }, T("Hang up"))));
  }

  function stationRow(s) {
    var number = el("input", { size: "10", placeholder: "1002", "aria-label": T("Number") });
    var act = function (action, body) {
      return function () { HL.api("POST", "/sim/stations/" + s.extension + "/" + action, body ? body() : {}).catch(fail); };
    };
    var tone = s.state === "ringing" ? "warn" : s.state === "idle" ? "ok" : "busy";
    return el("tr", { "data-station": s.extension },
      el("td", { "class": "data" }, s.extension), el("td", { "class": "data" }, s.line),
      el("td", {}, el("span", { "class": "badge " + (s.up ? tone : "bad") }, T(s.up ? s.state : "down"))),
      el("td", {},
        el("button", { "class": "btn btn-small", type: "button", onclick: act("answer") }, T("Answer")), " ",
        el("button", { "class": "btn btn-small", type: "button", onclick: act("hangup") }, T("Hang up")), " ",
        number, " ",
        el("button", { "class": "btn btn-small", type: "button",
                       onclick: act("dial", function () { return { number: number.value }; }) }, T("Dial"))));
  }

  function fill(id, rows, make, emptyCols) {
    var body = document.querySelector("#" + id + " tbody");
    var focused = document.activeElement && document.activeElement.tagName === "INPUT" &&
                  body.contains(document.activeElement);
    if (focused) { return; }                       // do not take the field away while someone types in it
    body.textContent = "";
    if (!rows.length) {
      body.appendChild(el("tr", {}, el("td", { colspan: String(emptyCols), "class": "muted" }, T("Nothing here yet"))));
      return;
    }
    rows.forEach(function (r) { body.appendChild(make(r)); });
  }

  function refresh() {
    HL.api("GET", "/sim/calls").then(function (r) { fill("sim-calls", r.calls, callRow, 7); }, function () {});
    HL.api("GET", "/sim/stations").then(function (r) { fill("sim-stations", r.stations, stationRow, 4); }, function () {});
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
