/* Hotline panel: messages and escalation memos on every page of agents, supervisors and admins.
   Unacknowledged ones pop up at page load and whenever one arrives over the live channel, until the user
   acknowledges them. Other scripts (the agent desk) share the live channel through HLInbox.listen(fn). */
(function () {
  "use strict";
  if (!window.HL || window.HLInbox) { return; }
  var HL = window.HL, T = HL.T, el = HL.el;
  var listeners = [], shown = {}, box = null;
  var inbox = { quietMessages: false, online: false };

  function container() {
    if (!box) {
      box = el("div", { "class": "inbox-pops", "aria-live": "polite", "id": "inbox-pops" });
      document.body.appendChild(box);
    }
    return box;
  }

  function when(ts) { return HL.time(ts, "clock"); }

  function ack(msg) {
    return HL.api("POST", "/messages/" + msg.id + "/ack", {}).then(function (done) {
      var card = document.querySelector(".inbox-pop[data-id='" + msg.id + "']");
      if (card) { card.parentNode.removeChild(card); }
      emit({ type: "acked", message: done });
      return done;
    }, function (err) { HL.toast(T("Failed") + ": " + err.error); });
  }

  function popup(msg) {
    if (!msg || shown[msg.id] || msg.acked_at) { return; }
    shown[msg.id] = true;
    var memo = msg.kind === "escalation";
    var ticket = memo && msg.ticket ? el("div", { "class": "inbox-pop-ticket" },
      el("a", { href: "/tickets/" + msg.ticket.id, "class": "data" }, msg.ticket.ticket_no), " ",
      el("span", { "class": "muted" }, msg.ticket.summary || "")) : null;
    var card = el("div", { "class": "card inbox-pop" + (memo ? " memo" : ""), "data-id": msg.id, role: "alert" },
      el("div", { "class": "inbox-pop-head" },
        el("span", { "class": "badge " + (memo ? "bad" : "busy") }, memo ? T("Escalated ticket") : T("Message")),
        el("span", { "class": "muted" }, T("from") + " " + msg.from + " · " + when(msg.ts))),
      ticket,
      el("p", { "class": "inbox-pop-text" }, msg.text),
      el("div", { "class": "inbox-pop-actions" },
        memo && msg.ticket ? el("a", { "class": "btn btn-small", href: "/tickets/" + msg.ticket.id }, T("Open ticket")) : null,
        el("button", { "class": "btn btn-small btn-primary inbox-ack", type: "button",
                       onclick: function () { ack(msg); } }, memo ? T("Acknowledge") : T("Mark as read"))));
    container().appendChild(card);
  }

  function emit(msg) {
    listeners.forEach(function (fn) {
      try { fn(msg); } catch (e) { if (window.console) { console.error(e); } }
    });
  }

  inbox.listen = function (fn) { listeners.push(fn); };
  inbox.ack = ack;
  inbox.popup = popup;
  window.HLInbox = inbox;

  function load() {
    HL.api("GET", "/messages").then(function (data) {
      (data.unread || []).forEach(function (m) {
        if (m.kind === "escalation" || !inbox.quietMessages) { popup(m); }
      });
      inbox.data = data;  // for scripts that start listening later
      emit({ type: "inbox", data: data });
    }, function () { /* not allowed or offline: nothing to show */ });
  }

  HL.live([], function (msg) {
    if (msg.type === "memo") { popup(msg.message); }
    else if (msg.type === "message" && !inbox.quietMessages) { popup(msg.message); }
    emit(msg);
  }, function (on) {
    var was = inbox.online;
    inbox.online = on;
    emit({ type: "online", on: on });
    if (on && !was && inbox.connectedOnce) { load(); }  // catch up on what came while we were away
    if (on) { inbox.connectedOnce = true; }
  });
  load();
})();
