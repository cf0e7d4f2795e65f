/* Hotline panel: small helpers shared by every page (no framework, no external scripts). */
(function () {
  "use strict";
  var strings = JSON.parse(document.getElementById("hl-strings").textContent || "{}");

  function cookie(name) {
    var m = document.cookie.match(new RegExp("(?:^|; )" + name + "=([^;]*)"));
    return m ? decodeURIComponent(m[1]) : "";
  }

  /* Translate a string the server sent in the user's language. */
  function T(s) { return strings[s] || s; }

  /* JSON API call with the XSRF header; resolves with the parsed body, rejects with {status, error}. */
  function api(method, path, body) {
    var opts = { method: method, credentials: "same-origin",
                 headers: { "X-XSRFToken": cookie("_xsrf"), "Accept": "application/json" } };
    if (body !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(body);
    }
    return fetch("/api/v1" + path, opts).then(function (r) {
      return r.text().then(function (text) {
        var data = {};
        try { data = text ? JSON.parse(text) : {}; } catch (e) { data = { error: text }; }
        if (!r.ok) { return Promise.reject({ status: r.status, error: data.error || r.statusText }); }
        return data;
      });
    });
  }

  function toast(message) {
    var el = document.getElementById("toast");
    if (!el) { return; }
    el.textContent = message;
    el.classList.add("show");
    clearTimeout(toast.timer);
    toast.timer = setTimeout(function () { el.classList.remove("show"); }, 2500);
  }

  /* The live channel: subscribe to topics; handlers get every message of their topic. Reconnects. */
  function live(topics, onMessage, onState) {
    var ws, delay = 500;
    function connect() {
      ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws");
      ws.onopen = function () {
        delay = 500;
        ws.send(JSON.stringify({ subscribe: topics }));
        if (onState) { onState(true); }
      };
      ws.onmessage = function (ev) {
        var msg;
        try { msg = JSON.parse(ev.data); } catch (e) { return; }
        onMessage(msg);
      };
      ws.onclose = function () {
        if (onState) { onState(false); }
        setTimeout(connect, delay);
        delay = Math.min(delay * 2, 10000);
      };
    }
    connect();
    return function () { return ws; };
  }

  /* Build an element: el("td", {class: "x"}, "text", child...) (text is never parsed as HTML). */
  function el(tag, attrs) {
    var node = document.createElement(tag);
    var a = attrs || {};
    Object.keys(a).forEach(function (k) {
      if (k === "text") { node.textContent = a[k]; }
      else if (k.slice(0, 2) === "on") { node.addEventListener(k.slice(2), a[k]); }
      else if (a[k] !== null && a[k] !== undefined && a[k] !== false) { node.setAttribute(k, a[k]); }
    });
    for (var i = 2; i < arguments.length; i++) {
      var c = arguments[i];
      if (c === null || c === undefined) { continue; }
      node.appendChild(typeof c === "string" || typeof c === "number" ? document.createTextNode(String(c)) : c);
    }
    return node;
  }

  function duration(seconds) {
    seconds = Math.max(0, Math.round(seconds));
    var m = Math.floor(seconds / 60), s = seconds % 60;
    return m + ":" + (s < 10 ? "0" : "") + s;
  }

  /* No inline handlers anywhere (the Content-Security-Policy forbids them): forms with data-confirm ask
     first, buttons with data-print print the page. */
  document.addEventListener("submit", function (ev) {
    var form = ev.target;
    if (form && form.hasAttribute && form.hasAttribute("data-confirm") &&
        !window.confirm(form.getAttribute("data-confirm") || T("Are you sure?"))) { ev.preventDefault(); }
  }, true);
  document.addEventListener("click", function (ev) {
    if (ev.target.closest && ev.target.closest("[data-print]")) { window.print(); }
  });

  /* A stored moment (epoch seconds) as the box's local time, never the browser's: the zone comes from the page
     (<html data-tz>, the same zone daemon/localtime.py uses on the server). Styles as there: "second",
     "minute" (default), "date", "clock", "input" (datetime-local). "" for no time. */
  var zoneParts = {};
  function time(ts, style) {
    if (ts === null || ts === undefined || ts === "") { return ""; }
    var tz = document.documentElement.getAttribute("data-tz") || "UTC";
    var f = zoneParts[tz];
    if (!f) {
      f = zoneParts[tz] = new Intl.DateTimeFormat("en-GB", { timeZone: tz, hourCycle: "h23", year: "numeric",
        month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit" });
    }
    var p = {};
    f.formatToParts(new Date(Number(ts) * 1000)).forEach(function (x) { p[x.type] = x.value; });
    var day = p.year + "-" + p.month + "-" + p.day, hm = p.hour + ":" + p.minute;
    style = style || "minute";
    if (style === "date") { return day; }
    if (style === "clock") { return hm; }
    if (style === "input") { return day + "T" + hm; }
    if (style === "second") { return day + " " + hm + ":" + p.second; }
    return day + " " + hm;
  }

  /* Today's date (YYYY-MM-DD) in the box's zone, shifted by ``days``. */
  function today(days) { return time(Date.now() / 1000 + (days || 0) * 86400, "date"); }

  window.HL = { T: T, api: api, toast: toast, live: live, el: el, cookie: cookie, duration: duration, time: time,
                today: today };
})();
