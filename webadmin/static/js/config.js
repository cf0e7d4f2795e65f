/* Configuration pages: queue, agent and user forms (problems shown next to their field), row lists, YAML import,
   line switches, API tokens. Everything goes through the JSON API under /api/v1/config; DOM built with HL.el. */
(function () {
  "use strict";
  var T = HL.T, el = HL.el;

  /* Like HL.api, but a failure keeps the whole body (the validator's problems by field). */
  function call(method, path, body, contentType) {
    var opts = { method: method, credentials: "same-origin",
                 headers: { "X-XSRFToken": HL.cookie("_xsrf"), "Accept": "application/json" } };
    if (body !== undefined) {
      opts.headers["Content-Type"] = contentType || "application/json";
      opts.body = contentType ? body : JSON.stringify(body);
    }
    return fetch("/api/v1" + path, opts).then(function (r) {
      return r.text().then(function (text) {
        var data = {};
        try { data = text ? JSON.parse(text) : {}; } catch (e) { data = { error: text }; }
        if (!r.ok) {
          data.status = r.status;
          data.error = data.error || r.statusText;
          return Promise.reject(data);
        }
        return data;
      });
    });
  }

  /* A message that survives the next page load (after a save we go back to the list). */
  function flash(message) { try { sessionStorage.setItem("hl-config-flash", message); } catch (e) { /* private mode */ } }
  function showFlash() {
    var m = null;
    try { m = sessionStorage.getItem("hl-config-flash"); sessionStorage.removeItem("hl-config-flash"); } catch (e) { m = null; }
    if (m) { HL.toast(m); }
  }
  function failed(err) { HL.toast(T("Failed") + ": " + (err && err.error ? err.error : "")); }
  function $(sel, root) { return (root || document).querySelector(sel); }
  function $all(sel, root) { return Array.prototype.slice.call((root || document).querySelectorAll(sel)); }

  /* The typed value of one input: numbers as numbers (anything else is sent as typed, so the server names the
     problem), empty means "default" (undefined) or null for nullable options. */
  function valueOf(input) {
    var kind = input.getAttribute("data-kind") || "str";
    if (kind === "bool") { return input.checked; }
    if (input.validity && input.validity.badInput) { return "?"; }
    var raw = (input.value || "").trim();
    if (raw === "") { return input.hasAttribute("data-nullable") ? null : undefined; }
    if (kind === "int" || kind === "float") {
      var n = Number(raw);
      return isNaN(n) ? raw : n;
    }
    return raw;
  }

  function collectFields(form, body) {
    $all("[data-field]", form).forEach(function (input) {
      if (input.disabled || input.closest("[data-list]")) { return; }
      var v = valueOf(input);
      if (v !== undefined) { body[input.getAttribute("data-field")] = v; }
    });
    return body;
  }

  function collectRows(form, list) {
    return $all("[data-list='" + list + "'] .cfg-row", form).map(function (row) {
      var item = {};
      $all("[data-sub]", row).forEach(function (input) {
        var v = valueOf(input);
        if (v !== undefined && v !== null) { item[input.getAttribute("data-sub")] = v; }
      });
      return item;
    });
  }

  function clearErrors(form) {
    $all(".cfg-error", form).forEach(function (e) { e.textContent = ""; });
    $all(".cfg-invalid", form).forEach(function (e) { e.classList.remove("cfg-invalid"); });
    var box = $("#form-error", form);
    if (box) { box.hidden = true; }
  }

  /* Put each problem next to its field ("members[1].agent" goes to the members list). */
  function showErrors(form, err) {
    var problems = err.problems || [{ field: "", message: err.error }];
    var loose = [];
    var first = null;
    problems.forEach(function (p) {
      var base = (p.field || "").split(/[.[]/)[0];
      var slot = base ? $("[data-error-for='" + base + "']", form) : null;
      if (!slot) { loose.push((p.field ? p.field + ": " : "") + p.message); return; }
      var text = p.field && p.field !== base ? p.field + ": " + p.message : p.message;
      slot.appendChild(el("div", {}, text));
      var box = $("[data-field-box='" + base + "']", form) || $("[data-field='" + base + "']", form);
      if (box) { box.classList.add("cfg-invalid"); first = first || box; }
    });
    var banner = $("#form-error", form);
    if (banner) {
      banner.hidden = false;
      var detail = $("#form-error-text", form);
      if (detail) { detail.textContent = loose.join("; "); }
    }
    if (first && first.scrollIntoView) { first.scrollIntoView({ block: "center" }); }
    else if (banner) { banner.scrollIntoView({ block: "center" }); }
  }

  /* ---- row lists: add from a <template>, remove ---------------------------------------------------- */
  document.addEventListener("click", function (ev) {
    var add = ev.target.closest("[data-add-row]");
    if (add) {
      var name = add.getAttribute("data-add-row");
      var tpl = document.getElementById("tpl-" + name);
      var list = $("[data-list='" + name + "']");
      if (tpl && list) {
        var row = tpl.content.firstElementChild.cloneNode(true);
        list.appendChild(row);
        var focus = row.querySelector("input, select");
        if (focus) { focus.focus(); }
      }
      return;
    }
    var remove = ev.target.closest("[data-remove-row]");
    if (remove) { remove.closest(".cfg-row").remove(); }
  });

  /* ---- deleting queues and agents -------------------------------------------------------------------- */
  function deleter(attr, path) {
    $all("[" + attr + "]").forEach(function (btn) {
      btn.addEventListener("click", function () {
        if (!window.confirm(T("Are you sure?"))) { return; }
        btn.disabled = true;
        call("DELETE", path + btn.getAttribute(attr)).then(function () {
          flash(T("Deleted"));
          var then = btn.getAttribute("data-then");
          if (then) { location.href = then; } else { location.reload(); }
        }, function (err) { btn.disabled = false; failed(err); });
      });
    });
  }
  deleter("data-delete-queue", "/config/queues/");
  deleter("data-delete-agent", "/config/agents/");

  /* ---- the queue form ---------------------------------------------------------------------------------- */
  var queueForm = document.getElementById("queue-form");
  if (queueForm) {
    queueForm.addEventListener("submit", function (ev) {
      ev.preventDefault();
      clearErrors(queueForm);
      var body = collectFields(queueForm, {});
      var title = {};
      $all("[data-title]", queueForm).forEach(function (i) {
        if (i.value.trim()) { title[i.getAttribute("data-title")] = i.value.trim(); }
      });
      body.title = title;
      body.widening = collectRows(queueForm, "widening");
      body.members = collectRows(queueForm, "members");
      var create = queueForm.getAttribute("data-mode") === "create";
      var name = create ? $("#queue-name").value.trim() : queueForm.getAttribute("data-name");
      var button = $("button[type=submit]", queueForm);
      button.disabled = true;
      var done = create ? call("POST", "/config/queues", Object.assign({ name: name }, body))
                        : call("PUT", "/config/queues/" + name, body);
      done.then(function () {
        flash(T("Saved"));
        location.href = "/config/queues";
      }, function (err) { button.disabled = false; showErrors(queueForm, err); });
    });
  }

  /* ---- YAML import --------------------------------------------------------------------------------------- */
  var importForm = document.getElementById("import-form");
  if (importForm) {
    $("#import-file").addEventListener("change", function (ev) {
      var file = ev.target.files && ev.target.files[0];
      if (!file) { return; }
      $("#import-file-name").textContent = file.name;
      var reader = new FileReader();
      reader.onload = function () { $("#import-text").value = String(reader.result || ""); };
      reader.readAsText(file);
    });
    importForm.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var text = $("#import-text").value;
      var list = $("#import-problems");
      $("#import-error").hidden = true;
      $("#import-ok").hidden = true;
      while (list.firstChild) { list.removeChild(list.firstChild); }
      if (!window.confirm(T("Are you sure?"))) { return; }
      call("POST", "/config/acd.yaml", text, "application/yaml").then(function (res) {
        var counts = $("#import-counts");
        counts.textContent = counts.getAttribute("data-text").replace("%(agents)d", res.imported.agents)
          .replace("%(queues)d", res.imported.queues);
        $("#import-ok").hidden = false;
        flash(T("Saved"));
        setTimeout(function () { location.reload(); }, 800);
      }, function (err) {
        (err.problems || [{ message: err.error }]).forEach(function (p) {
          var where = p.line ? p.line + ":" + p.column + " " : "";
          list.appendChild(el("li", {}, where + (p.field ? p.field + ": " : "") + p.message));
        });
        $("#import-error").hidden = false;
      });
    });
  }

  /* ---- the agent form ------------------------------------------------------------------------------------ */
  var agentForm = document.getElementById("agent-form");
  if (agentForm) {
    agentForm.addEventListener("submit", function (ev) {
      ev.preventDefault();
      clearErrors(agentForm);
      var body = collectFields(agentForm, {});
      if (body.display_name === undefined) { body.display_name = ""; }
      var skills = {};
      collectRows(agentForm, "skills").forEach(function (row) {
        if (row.skill !== undefined) { skills[row.skill] = row.level !== undefined ? row.level : null; }
      });
      body.skills = skills;
      var create = agentForm.getAttribute("data-mode") === "create";
      var name = agentForm.getAttribute("data-name");
      var button = $("button[type=submit]", agentForm);
      button.disabled = true;
      var done = create ? call("POST", "/config/agents", body) : call("PUT", "/config/agents/" + name, body);
      done.then(function () {
        flash(T("Saved"));
        location.href = "/config/agents";
      }, function (err) { button.disabled = false; showErrors(agentForm, err); });
    });
  }

  /* ---- users --------------------------------------------------------------------------------------------- */
  var userForm = document.getElementById("user-form");
  if (userForm) {
    userForm.addEventListener("submit", function (ev) {
      ev.preventDefault();
      clearErrors(userForm);
      var body = collectFields(userForm, {});
      var again = $("#password2");
      if ((body.password || "") !== again.value) {
        var slot = $("[data-error-for='password2']", userForm);
        slot.textContent = slot.getAttribute("data-mismatch");
        again.classList.add("cfg-invalid");
        return;
      }
      call("POST", "/config/users", body).then(function () {
        flash(T("Saved"));
        location.reload();
      }, function (err) { showErrors(userForm, err); });
    });
  }

  var userPage = document.getElementById("user-page");
  if (userPage) {
    var uname = userPage.getAttribute("data-name");
    var accessError = $("#access-error");
    var change = function (body) {
      accessError.hidden = true;
      call("PUT", "/config/users/" + encodeURIComponent(uname), body).then(function () {
        flash(T("Saved"));
        location.reload();
      }, function (err) { accessError.textContent = err.error; accessError.hidden = false; });
    };
    var on = function (id, fn) { var b = document.getElementById(id); if (b) { b.addEventListener("click", fn); } };
    on("save-role", function () { change({ role: $("#user-role").value }); });
    on("disable-user", function () { if (window.confirm(T("Are you sure?"))) { change({ disabled: true }); } });
    on("enable-user", function () { change({ disabled: false }); });

    var pwForm = $("#password-form");
    pwForm.addEventListener("submit", function (ev) {
      ev.preventDefault();
      clearErrors(pwForm);
      $("#password-ok").hidden = true;
      var input = $("#new-password");
      call("POST", "/config/users/" + encodeURIComponent(uname) + "/password", { password: input.value })
        .then(function () { input.value = ""; $("#password-ok").hidden = false; HL.toast(T("Saved")); },
              function (err) { showErrors(pwForm, err); });
    });

    on("new-token", function () {
      call("POST", "/config/users/" + encodeURIComponent(uname) + "/tokens", {}).then(function (res) {
        $("#token-value").textContent = res.token;
        $("#token-new").hidden = false;
        var body = $("#tokens-table tbody");
        $all("tr:not([data-token])", body).forEach(function (r) { r.remove(); });
        body.appendChild(el("tr", { "data-token": res.id },
          el("td", { class: "data" }, "#" + res.id), el("td", { class: "data" }, HL.time(Date.now() / 1000)),
          el("td", { class: "cfg-row-actions" },
            el("button", { type: "button", class: "btn btn-small btn-danger", "data-revoke": res.id }, T("Revoke")))));
      }, failed);
    });
    $("#tokens-table").addEventListener("click", function (ev) {
      var btn = ev.target.closest("[data-revoke]");
      if (!btn || !window.confirm(T("Are you sure?"))) { return; }
      call("DELETE", "/config/users/" + encodeURIComponent(uname) + "/tokens/" + btn.getAttribute("data-revoke"))
        .then(function () { btn.closest("tr").remove(); HL.toast(T("Deleted")); }, failed);
    });
  }

  /* ---- lines and devices in or out of service --------------------------------------------------------- */
  function switcher(attr, path) {
    $all("[" + attr + "]").forEach(function (btn) {
      btn.addEventListener("click", function () {
        var enabled = btn.getAttribute("data-enabled") === "true";
        if (!enabled && !window.confirm(T("Are you sure?"))) { return; }
        btn.disabled = true;
        call("POST", path + encodeURIComponent(btn.getAttribute(attr)), { enabled: enabled }).then(function () {
          flash(T("Saved"));
          location.reload();
        }, function (err) { btn.disabled = false; failed(err); });
      });
    });
  }
  /* ---- a discovered USB modem offered as a device entry for hotline.yaml (the file is edited by hand) ------- */
  (function () {
    var box = $("#modem-add");
    if (!box) { return; }
    var name = $("#modem-name"), number = $("#modem-number"), out = $("#modem-yaml"), current = null;
    function render() {
      if (!current) { return; }
      var ok = /^[a-z][a-z0-9_-]{0,31}$/.test(name.value);
      name.classList.toggle("cfg-invalid", !ok);
      $("#modem-name-error").textContent = ok ? "" : T("Name: a lowercase letter, then lowercase letters, digits, - or _ (at most 32).");
      out.textContent = current.getAttribute("data-yaml")
        .replace(/^( {2}- name: ).*$/m, "$1" + name.value)
        .replace(/^( {4}number: ).*$/m, "$1\"" + number.value.replace(/[^0-9*#+]/g, "") + "\"");
    }
    $all("[data-modem-add]").forEach(function (btn) {
      btn.addEventListener("click", function () {
        current = btn;
        name.value = btn.getAttribute("data-name");
        $("#modem-add-which").textContent = btn.getAttribute("data-label");
        box.hidden = false;
        render();
        number.focus();
      });
    });
    name.addEventListener("input", render);
    number.addEventListener("input", render);
    $("#modem-copy").addEventListener("click", function () {
      var done = function () { HL.toast(T("Copied")); };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(out.textContent).then(done, failed);
      } else {
        var range = document.createRange();
        range.selectNodeContents(out);
        window.getSelection().removeAllRanges();
        window.getSelection().addRange(range);
        if (document.execCommand("copy")) { done(); }
      }
    });
  })();

  switcher("data-line-switch", "/config/lines/");
  switcher("data-device-switch", "/config/devices/");

  showFlash();
})();
