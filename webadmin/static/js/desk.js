/* The agent desk: my state live over the hub, the screen pop, call controls, click-to-call, worklists,
   messages. Every piece of data is put into the page with HL.el / textContent (never parsed as HTML). */
(function () {
  "use strict";
  var HL = window.HL, T = HL.T, el = HL.el;
  var root = document.getElementById("desk");
  if (!root) { return; }
  var labels = JSON.parse(document.getElementById("desk-labels").textContent || "{}");
  var lang = document.documentElement.lang === "zh-CN" ? "zh_CN" : "en_US";
  var me = root.getAttribute("data-user");
  var agent = null, received = 0, pop = null, myQueues = [], queueTitles = {};

  var STATE = {
    logged_out: [T("Logged out"), ""], ready: [T("Ready"), "ok"], reserved: [T("Ringing"), "busy"],
    on_call: [T("On call"), "busy"], wrap_up: [T("Wrap-up"), "warn"], not_ready: [T("Not ready"), "warn"],
    outbound: [T("Outbound call"), "busy"]
  };

  function $(id) { return document.getElementById(id); }
  function show(node, on) { if (node) { node.hidden = !on; } }
  function clear(node) { while (node.firstChild) { node.removeChild(node.firstChild); } return node; }
  function fail(what) { return function (err) { HL.toast(what + ": " + (err && err.error ? err.error : T("Failed"))); }; }
  function clock(ts) { return HL.time(ts).slice(5); }   /* MM-DD HH:MM in the box's zone */
  function title(t, name) { return (t && (t[lang] || t.en_US || t.zh_CN)) || name || ""; }
  function label(group, key) { return (labels[group] && labels[group][key]) || key; }
  function list(tag, attrs, children) { return el.apply(null, [tag, attrs].concat(children)); }

  // ---- my state ------------------------------------------------------------------------------------
  function renderAgent(a) {
    agent = a;
    received = Date.now();
    var st = STATE[a.state] || [a.state, ""];
    var badge = $("desk-state");
    badge.textContent = st[0] + (a.state === "not_ready" && a.reason ? " · " + label("reasons", a.reason) : "");
    badge.className = "badge " + st[1];
    var loggedIn = a.state !== "logged_out";
    show($("desk-login"), !loggedIn);
    show($("desk-controls"), loggedIn);
    $("desk-at").textContent = a.station || "";
    $("desk-ready").disabled = a.state === "ready" || a.state === "on_call" || a.state === "reserved";
    $("desk-notready").disabled = a.state === "not_ready" && !!a.reason && a.reason === $("desk-reason").value;
    show($("desk-wrapup"), a.state === "wrap_up");
    myQueues = (a.queues || []).map(function (q) { queueTitles[q.name] = title(q.title, q.name); return q.name; });
    var ul = clear($("desk-queues"));
    (a.queues || []).forEach(function (q) {
      ul.appendChild(el("li", {}, el("span", {}, title(q.title, q.name)),
        el("span", { "class": "badge " + (q.waiting ? "warn" : "") }, q.waiting + " " + T("waiting"))));
    });
    if (!(a.queues || []).length) { ul.appendChild(el("li", { "class": "muted" }, T("Not a member of any queue"))); }
    renderCall(a.current_call);
    if (pop && $("desk-pop-kind")) { $("desk-pop-kind").textContent = popKind(pop); }
    tick();
  }

  function renderCall(c) {
    show($("desk-call-none"), !c);
    show($("desk-call-box"), !!c);
    if (!c) { return; }
    var talking = agent && agent.state === "on_call";
    $("desk-call-number").textContent = c.caller_id || T("Unknown number");
    var state = agent && agent.state === "reserved" ? T("Ringing") : agent && agent.state === "outbound" && !c.answered_at
      ? T("Dialling") : c.held ? T("On hold") : c.state === "bridged" ? T("Connected") : T("Connecting");
    $("desk-call-state").textContent = state;
    $("desk-call-state").className = "badge " + (c.held ? "warn" : "busy");
    show($("desk-call-controls"), talking);
    show($("desk-hold"), !c.held);
    show($("desk-resume"), !!c.held);
  }

  function tick() {
    if (!agent) { return; }
    var gone = (Date.now() - received) / 1000;
    $("desk-timer").textContent = HL.duration(agent.in_state_s + gone);
    if (agent.state === "wrap_up" && agent.wrapup_left_s !== null) {
      $("desk-wrapup-left").textContent = HL.duration(Math.max(0, agent.wrapup_left_s - gone));
    }
    var c = agent.current_call;
    $("desk-call-time").textContent = c && c.talk_s !== null && c.talk_s !== undefined ? HL.duration(c.talk_s + gone) : "";
  }

  function act(action, body) {
    return HL.api("POST", "/desk/" + action, body || {}).then(renderAgent);
  }

  $("desk-login").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var station = $("desk-station").value.trim();
    if (!station) { HL.toast(T("Enter your station's extension")); return; }
    act("login", { station: station }).then(function () { HL.toast(T("Logged in")); }, fail(T("Could not log in")));
  });
  $("desk-logout").addEventListener("click", function () { act("logout").catch(fail(T("Could not log out"))); });
  $("desk-ready").addEventListener("click", function () { act("state", { state: "ready" }).catch(fail(T("Failed"))); });
  // Not ready needs the agent's own reason: no reason is picked for them (supervisors read it on the wallboard)
  $("desk-notready").addEventListener("click", function () {
    var reason = $("desk-reason");
    if (!reason.value) {
      reason.setAttribute("aria-invalid", "true");
      reason.focus();
      HL.toast(T("Choose a reason first"));
      return;
    }
    reason.removeAttribute("aria-invalid");
    act("state", { state: "not_ready", reason: reason.value }).catch(fail(T("Failed")));
  });
  $("desk-reason").addEventListener("change", function () {
    if (this.value) { this.removeAttribute("aria-invalid"); }
    if (agent) { renderAgent(agent); }
  });
  $("desk-wrapup-end").addEventListener("click", function () { act("wrapup", { action: "end" }).catch(fail(T("Failed"))); });
  $("desk-wrapup-extend").addEventListener("click", function () {
    act("wrapup", { action: "extend", seconds: 30 }).catch(fail(T("Failed")));
  });

  // ---- call controls (my current call, through /desk/call/...) ----------------------------------------
  function callApi(action, body) {
    var c = agent && agent.current_call;
    if (!c) { HL.toast(T("No call right now.")); return Promise.resolve(); }
    return HL.api("POST", "/desk/call/" + action, body || {}).then(function () {
      HL.toast(T("Done"));
      refresh();
    }, fail(T("Failed")));
  }
  $("desk-hold").addEventListener("click", function () { callApi("hold"); });
  $("desk-resume").addEventListener("click", function () { callApi("resume"); });
  $("desk-complete").addEventListener("click", function () { callApi("complete"); });
  $("desk-transfer").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var body = {};
    body[this.elements.kind.value] = this.elements.target.value.trim();
    callApi("transfer", body);
  });
  $("desk-consult").addEventListener("submit", function (ev) {
    ev.preventDefault();
    callApi("consult", { extension: this.elements.extension.value.trim() });
  });
  $("desk-conference").addEventListener("submit", function (ev) {
    ev.preventDefault();
    callApi("conference", { extension: this.elements.extension.value.trim() });
  });

  function dial(number) {
    return HL.api("POST", "/desk/dial", { number: number }).then(function () {
      HL.toast(T("Your phone rings: pick it up to call") + " " + number);
      refresh();
    }, fail(T("Could not call")));
  }
  $("desk-dial").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var n = $("desk-dial-number").value.trim();
    if (!n) { HL.toast(T("Enter a number")); return; }
    dial(n);
  });

  // ---- the screen pop ----------------------------------------------------------------------------------
  function trailText(t) {
    switch (t.step) {
      case "menu.key": return [T("Menu choice"), T("key") + " " + t.key + (t.target ? " → " + t.target : "")];
      case "menu.invalid": return [T("Wrong key"), t.key || ""];
      case "menu.timeout": return [T("No key pressed"), ""];
      case "menu.back": return [T("Went back"), t.target || ""];
      case "collect": return [T("Entered"), (t.var || "") + ": " + t.value];
      case "collect.invalid": return [T("Invalid entry"), (t.var || "") + ": " + (t.value || "")];
      case "collect.failed": return [T("No valid entry"), t.var || ""];
      case "lookup": return [T("Lookup"), t.table + " · " + t.by + " " + (t.value || "") + " → " + (t.found ? T("found") : T("not found"))];
      case "lookup.error": return [T("Lookup failed"), t.table || ""];
      case "identify": return [T("Caller identified"), t.found ? T("found") : T("not found")];
      case "verify_pin": return [T("Member PIN"), t.ok ? T("correct") : T("wrong")];
      case "language": return [T("Language"), t.language || ""];
      case "queue": return [T("Queue"), queueTitles[t.queue] || t.queue || ""];
      case "ticket": return [T("Ticket opened"), (t.ticket_no || "") + " " + label("types", t.type)];
      case "fax": return [T("Fax requested"), t.document || ""];
      case "callback": return [T("Callback requested"), t.number || ""];
      case "transfer": return [T("Transfer"), (t.target || "") + " " + (t.result || "")];
      case "voicemail": return [T("Voicemail"), t.mailbox || ""];
      default: return [t.step, ""];
    }
  }

  function ticketRow(t) {
    return el("tr", {},
      el("td", { "class": "data nowrap" }, el("a", { href: "/tickets/" + t.id }, t.ticket_no)),
      el("td", {}, label("types", t.type)),
      el("td", {}, el("span", { "class": "badge" }, label("statuses", t.status))),
      el("td", { "class": "desk-cut" }, t.summary || ""));
  }

  function section(name, items, empty) {
    return el("div", { "class": "desk-pop-section" }, el("h3", {}, name),
      items.length ? list("ul", { "class": "desk-list" }, items) : el("p", { "class": "muted" }, empty));
  }

  function summaryOf(p) {
    var parts = [T("Call from") + " " + (p.caller || T("Unknown number"))];
    if (p.queue) { parts.push(T("Queue") + " " + title(p.queue_title, p.queue)); }
    (p.digits || []).forEach(function (d) { parts.push(d.var + " " + d.value); });
    return parts.join(" · ");
  }

  function createTicket(p, button, slot) {
    button.disabled = true;
    var body = { type: p.guess.type, priority: p.guess.priority, summary: summaryOf(p), owner: me };
    if (p.caller) { body.caller_number = p.caller; }
    if (p.customer) { body.customer_id = p.customer.customer_id; }
    if (p.call) { body.call_uuid = p.call; }
    if (p.queue) { body.queue = p.queue; }
    HL.api("POST", "/tickets", body).then(function (t) {
      clear(slot).appendChild(el("span", { "class": "desk-created" }, el("span", { "class": "badge ok" }, T("Ticket created")), " ",
        el("a", { href: "/tickets/" + t.id, "class": "data", id: "desk-created-link" }, t.ticket_no)));
      HL.toast(T("Ticket created") + " " + t.ticket_no);
      p.created = t;
      addTicket(p, t);
      if (pop === p) { renderPop(p, true); }
    }, function (err) { button.disabled = false; fail(T("Could not create the ticket"))(err); });
  }

  /* The pop's open and recent tickets include one just made from it (as the server's copy of the pop does). */
  function addTicket(p, t) {
    var brief = { id: t.id, ticket_no: t.ticket_no, type: t.type, status: t.status, priority: t.priority,
                  summary: t.summary, created_at: t.created_at };
    var others = function (list) { return (list || []).filter(function (x) { return x.id !== t.id; }); };
    p.open_tickets = [brief].concat(others(p.open_tickets));
    p.history = p.history || {};
    p.history.tickets = [brief].concat(others(p.history.tickets)).slice(0, 5);
  }

  function popKind(p) {
    var current = agent && agent.call && (agent.call === p.call || agent.call === p.parent);
    return current ? (p.kind === "callback" ? T("Callback") : T("Incoming call")) : T("Last call");
  }

  function renderPop(p, quiet) {
    pop = p;
    if (p && p.caller && !$("desk-kb-fax").value) { $("desk-kb-fax").value = p.caller; }
    show($("desk-pop-empty"), !p);
    var body = clear($("desk-pop-body"));
    show(body, !!p);
    if (!p) { return; }
    var c = p.customer;
    var head = el("div", { "class": "desk-pop-head" },
      el("div", {},
        el("div", { "class": "stat-label", id: "desk-pop-kind" }, popKind(p)),
        el("div", { "class": "desk-pop-number data", id: "desk-pop-number" }, p.caller || T("Unknown number")),
        p.caller_name ? el("div", { "class": "muted" }, p.caller_name) : null),
      el("div", { "class": "desk-pop-meta" },
        p.queue ? el("div", {}, el("span", { "class": "muted" }, T("Queue") + " "), el("b", {}, title(p.queue_title, p.queue))) : null,
        p.waited_s !== null && p.waited_s !== undefined ? el("div", {}, el("span", { "class": "muted" }, T("Waited") + " "),
          el("b", { "class": "data" }, HL.duration(p.waited_s))) : null,
        el("div", { "class": "muted" }, clock(p.offered_at))));
    var slot = el("div", { "class": "desk-pop-action" });
    var btn = el("button", { "class": "btn btn-primary", type: "button", id: "desk-create-ticket" },
      T("Create ticket") + " · " + label("types", p.guess.type));
    btn.addEventListener("click", function () { createTicket(p, btn, slot); });
    if (p.created) {
      slot.appendChild(el("span", { "class": "desk-created" }, el("span", { "class": "badge ok" }, T("Ticket created")), " ",
        el("a", { href: "/tickets/" + p.created.id, "class": "data", id: "desk-created-link" }, p.created.ticket_no)));
    } else { slot.appendChild(btn); }
    var who = c ? el("div", { "class": "desk-customer" },
      el("div", { "class": "desk-customer-name" }, el("a", { href: "/crm/customers/" + c.customer_id }, c.name),
        c.vip ? el("span", { "class": "badge warn" }, "VIP") : null),
      el("dl", { "class": "desk-facts" },
        c.member_no ? el("dt", {}, T("Member no.")) : null, c.member_no ? el("dd", { "class": "data" }, c.member_no) : null,
        c.phone ? el("dt", {}, T("Phone")) : null, c.phone ? el("dd", { "class": "data" }, c.phone) : null,
        c.district || c.province ? el("dt", {}, T("Area")) : null,
        c.district || c.province ? el("dd", {}, [c.province, c.district].filter(Boolean).join(" · ")) : null,
        c.address ? el("dt", {}, T("Address")) : null, c.address ? el("dd", {}, c.address) : null))
      : el("div", { "class": "desk-customer" }, el("div", { "class": "desk-customer-name muted" }, T("Unknown caller")),
        el("p", { "class": "muted" }, T("No customer has this number.")),
        el("a", { "class": "btn btn-small", href: "/crm/customers/new" }, T("Add customer")));
    var trail = el("ol", { "class": "desk-trail", id: "desk-trail" });
    (p.trail || []).forEach(function (t) {
      var txt = trailText(t);
      trail.appendChild(el("li", { "class": "desk-trail-" + t.step.replace(".", "-") },
        el("span", { "class": "desk-trail-what" }, txt[0]), " ",
        el("span", { "class": t.step === "collect" ? "data desk-digits" : "data" }, txt[1])));
    });
    if (!(p.trail || []).length) { trail.appendChild(el("li", { "class": "muted" }, T("The caller went straight to the queue."))); }
    var open = (p.open_tickets || []).map(ticketRow);
    var calls = ((p.history || {}).calls || []).map(function (h) {
      return el("li", {}, el("span", { "class": "data" }, clock(h.at)), " ", T(h.disposition) || h.disposition,
        h.talk_s ? " · " + HL.duration(h.talk_s) : "", h.peer ? " · " + h.peer : "");
    });
    var faxes = ((p.history || {}).faxes || []).map(function (f) {
      var what = f.direction === "in" ? el("a", { href: "/api/v1/faxes/" + f.id + "/document.pdf" }, T("Received fax"))
        : f.document;
      return el("li", {}, el("span", { "class": "data" }, clock(f.at)), " ", what, " · ", T(f.status) || f.status);
    });
    var tickets = ((p.history || {}).tickets || []).map(function (t) {
      return el("li", {}, el("span", { "class": "data" }, clock(t.created_at)), " ",
        el("a", { href: "/tickets/" + t.id, "class": "data" }, t.ticket_no), " ", label("types", t.type), " · ",
        label("statuses", t.status));
    });
    body.appendChild(head);
    body.appendChild(el("div", { "class": "desk-pop-grid" },
      el("div", {}, el("h3", {}, T("Customer")), who),
      el("div", {}, el("h3", {}, T("In the menus")), trail)));
    body.appendChild(slot);
    body.appendChild(el("div", { "class": "desk-pop-section" }, el("h3", {}, T("Open tickets")),
      open.length ? el("table", { "class": "table", id: "desk-open-tickets" }, list("tbody", {}, open))
        : el("p", { "class": "muted" }, T("No open tickets."))));
    body.appendChild(el("div", { "class": "desk-pop-history" },
      section(T("Recent calls"), calls, T("No earlier calls.")),
      section(T("Recent tickets"), tickets, T("No tickets yet.")),
      section(T("Faxes"), faxes, T("No faxes."))));
    var box = $("desk-pop");
    if (quiet) { return; }                       // redrawn after a change of mine: no "new call" flash
    box.classList.remove("flash");
    void box.offsetWidth;
    box.classList.add("flash");
  }

  // ---- knowledge base: search, open, fax an article to the caller -------------------------------------
  function faxArticle(a, button) {
    var number = $("desk-kb-fax").value.trim();
    if (!number) { HL.toast(T("Enter a number")); $("desk-kb-fax").focus(); return; }
    button.disabled = true;
    HL.api("POST", "/kb/articles/" + a.id + "/fax", { number: number }).then(function () {
      HL.toast(T("Fax queued") + ": " + a.title + " → " + number);
    }, function (err) { button.disabled = false; fail(T("Failed"))(err); });
  }
  $("desk-doc-fax").addEventListener("submit", function (ev) {   // a fax-library document to the number above
    ev.preventDefault();
    var number = $("desk-kb-fax").value.trim(), doc = this.elements.document.value, button = this.querySelector("button");
    if (!number) { HL.toast(T("Enter a number")); $("desk-kb-fax").focus(); return; }
    button.disabled = true;
    HL.api("POST", "/faxes", { document: doc, number: number }).then(function () {
      button.disabled = false;
      HL.toast(T("Fax queued") + ": " + doc + " → " + number);
    }, function (err) { button.disabled = false; fail(T("Failed"))(err); });
  });
  $("desk-kb-search").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var q = this.elements.q.value.trim();
    var ul = clear($("desk-kb-results"));
    if (!q) { return; }
    HL.api("GET", "/kb/articles?limit=5&q=" + encodeURIComponent(q)).then(function (data) {
      (data.articles || []).forEach(function (a) {
        var btn = el("button", { "class": "btn btn-small", type: "button" }, T("Fax"));
        btn.addEventListener("click", function () { faxArticle(a, btn); });
        ul.appendChild(el("li", { "class": "desk-kb-hit" },
          el("a", { href: "/kb/" + a.id, target: "_blank", rel: "noopener" }, a.title), btn));
      });
      if (!(data.articles || []).length) { ul.appendChild(el("li", { "class": "muted" }, T("No articles found."))); }
    }, fail(T("Failed")));
  });

  // ---- worklists -------------------------------------------------------------------------------------
  function renderCallbacks(list) {
    var tb = clear(document.querySelector("#desk-callbacks tbody"));
    list.forEach(function (c) {
      tb.appendChild(el("tr", {}, el("td", { "class": "data" }, c.number || ""), el("td", {}, queueTitles[c.queue] || c.queue),
        el("td", {}, c.dialing ? el("span", { "class": "badge busy" }, T("Dialling"))
          : c.closed ? el("span", { "class": "badge", title: T("Dialled when the queue opens") }, T("After hours"))
          : String(c.position)),
        el("td", { "class": "data" }, HL.duration(c.waited_s))));
    });
    if (!list.length) { tb.appendChild(el("tr", {}, el("td", { colspan: "4", "class": "muted" }, T("No callbacks waiting.")))); }
  }

  function loadAbandoned() {
    HL.api("GET", "/abandoned?hours=24").then(function (data) {
      var tb = clear(document.querySelector("#desk-abandoned tbody"));
      var rows = (data.abandoned || []).filter(function (a) { return !myQueues.length || myQueues.indexOf(a.queue) >= 0; });
      rows.slice(0, 20).forEach(function (a) {
        var cell = el("td", {});
        if (a.callback && (a.callback.status === "pending" || a.callback.status === "dialing")) {
          cell.appendChild(el("span", { "class": "badge busy" }, T("Callback queued")));
        } else {
          cell.appendChild(el("button", { "class": "btn btn-small", type: "button", onclick: function () {
            this.disabled = true;
            HL.api("POST", "/abandoned/" + a.call + "/callback", {}).then(function () {
              HL.toast(T("Callback queued")); loadAbandoned(); refresh();
            }, fail(T("Failed")));
          } }, T("Call back")));
        }
        tb.appendChild(el("tr", {}, el("td", { "class": "data" }, a.caller || "?"), el("td", {}, queueTitles[a.queue] || a.queue || ""),
          el("td", { "class": "data nowrap" }, clock(a.at)), cell));
      });
      if (!rows.length) { tb.appendChild(el("tr", {}, el("td", { colspan: "4", "class": "muted" }, T("No abandoned calls today.")))); }
    }, function () { /* the worklist is optional */ });
  }

  // ---- messages --------------------------------------------------------------------------------------
  var messages = [];
  function renderMessages() {
    var ul = clear($("desk-messages"));
    messages.slice(0, 30).forEach(function (m) {
      var mine = m.from === me, unread = !mine && !m.acked_at;
      var li = el("li", { "class": "desk-message" + (mine ? " mine" : "") + (unread ? " unread" : ""), "data-id": m.id },
        el("div", { "class": "desk-message-head" },
          el("b", {}, mine ? T("To") + " " + m.to : m.from),
          m.kind === "escalation" ? el("span", { "class": "badge bad" }, T("Escalated ticket")) : null,
          el("span", { "class": "muted data" }, clock(m.ts))),
        m.ticket ? el("div", {}, el("a", { href: "/tickets/" + m.ticket.id, "class": "data" }, m.ticket.ticket_no)) : null,
        el("div", { "class": "desk-message-text" }, m.text));
      if (unread) {
        li.appendChild(el("button", { "class": "btn btn-small", type: "button", onclick: function () {
          window.HLInbox.ack(m);
        } }, m.kind === "escalation" ? T("Acknowledge") : T("Mark as read")));
      }
      ul.appendChild(li);
    });
    if (!messages.length) { ul.appendChild(el("li", { "class": "muted" }, T("No messages."))); }
  }
  function addMessage(m) {
    messages = [m].concat(messages.filter(function (x) { return x.id !== m.id; }));
    renderMessages();
  }
  $("desk-message").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var form = this, text = form.elements.text.value.trim();
    if (!form.elements.to.value) { HL.toast(T("Choose who gets the message")); return; }
    if (!text) { HL.toast(T("Write a message")); return; }
    HL.api("POST", "/messages", { to: form.elements.to.value, text: text }).then(function (m) {
      form.elements.text.value = "";
      addMessage(m);
      HL.toast(m.delivered ? T("Sent") : T("Sent; they will see it when they open the panel"));
    }, fail(T("Could not send")));
  });

  // ---- live ------------------------------------------------------------------------------------------
  function refresh() {
    return HL.api("GET", "/desk").then(function (d) {
      if (d.agent) { renderAgent(d.agent); }
      renderCallbacks(d.callbacks || []);
      if (d.pop && (!pop || pop.call !== d.pop.call)) { renderPop(d.pop); }
    }, function () { /* shown by the live state */ });
  }

  var inbox = window.HLInbox;
  if (inbox) {
    inbox.quietMessages = true;
    inbox.listen(onLive);
    // the live channel may have opened (and the inbox loaded) while this script was still downloading
    if (inbox.online) { onLive({ type: "online", on: true }); }
    if (inbox.data) { onLive({ type: "inbox", data: inbox.data }); }
  }
  function onLive(msg) {
    if (msg.type === "online") {
      $("desk-live").className = "live-dot" + (msg.on ? " on" : "");
      $("desk-live-text").textContent = msg.on ? T("Live") : T("Reconnecting...");
      if (msg.on) { refresh(); }
    } else if (msg.type === "agent" && msg.agent) {
      renderAgent(msg.agent);
    } else if (msg.type === "pop" && msg.pop) {
      renderPop(msg.pop);
      HL.toast(T("Incoming call") + " " + (msg.pop.caller || ""));
    } else if (msg.type === "message" && msg.message) {
      addMessage(msg.message);
      HL.toast(T("Message from") + " " + msg.message.from);
    } else if (msg.type === "memo" && msg.message) {
      addMessage(msg.message);
    } else if (msg.type === "acked" && msg.message) {
      addMessage(msg.message);
    } else if (msg.type === "inbox" && msg.data) {
      messages = msg.data.messages || [];
      renderMessages();
    }
  }
  refresh().then(loadAbandoned);
  setInterval(tick, 1000);
  setInterval(refresh, 15000);
  setInterval(loadAbandoned, 30000);
})();
