/* Prompts: play in the browser, upload a WAV, regenerate the speech, record by phone (progress over the hub). */
(function () {
  "use strict";
  var T = HL.T, el = HL.el;
  var table = document.getElementById("prompts-table");
  var LANG = table.getAttribute("data-language");
  var player = document.getElementById("prompt-player");
  var playerTitle = document.getElementById("player-title");
  var fileInput = document.getElementById("upload-file");
  var extSelect = document.getElementById("record-extension");
  var recordStatus = document.getElementById("record-status");
  var uploadTarget = null;

  function fmt(s, values) {
    return T(s).replace(/%\((\w+)\)s/g, function (_, k) { return values[k] === undefined ? "" : String(values[k]); });
  }
  function clear(node) { while (node.firstChild) { node.removeChild(node.firstChild); } }
  function row(id) {
    return Array.prototype.filter.call(table.querySelectorAll("tr[data-prompt]"), function (tr) {
      return tr.getAttribute("data-prompt") === id; })[0];
  }

  function play(id, lang) {
    Array.prototype.forEach.call(table.querySelectorAll("tr.playing"), function (tr) { tr.classList.remove("playing"); });
    var tr = row(id);
    if (tr && lang === LANG) { tr.classList.add("playing"); }
    player.src = "/api/v1/prompts/" + lang + "/" + id + ".wav?t=" + Date.now();
    playerTitle.textContent = id + " · " + lang;
    player.load();
    var p = player.play();
    if (p && p.catch) { p.catch(function () {}); }   // headless browsers may refuse to start sound: still loaded
  }

  /* Update a row after a change (source badge, length, buttons). */
  function refreshRow(r) {
    var tr = row(r.id);
    if (!tr) { return; }
    tr.setAttribute("data-source", r.source);
    var src = tr.querySelector(".src-cell");
    clear(src);
    var labels = { recorded: ["ok", "Recorded"], tts: ["busy", "Speech (TTS)"], missing: ["warn", "Missing"] };
    src.appendChild(el("span", { "class": "badge " + labels[r.source][0] }, T(labels[r.source][1])));
    src.appendChild(el("div", { "class": "data small len-cell" },
                       r.seconds !== null && r.seconds !== undefined ? r.seconds.toFixed(1) + " s" : ""));
    var tts = tr.querySelector('[data-action="tts"]');
    if (tts) { tts.textContent = T(r.source === "recorded" ? "Use TTS" : "Regenerate TTS"); }
    tr.classList.add("flash");
    setTimeout(function () { tr.classList.remove("flash"); }, 1600);
  }

  function upload(id, lang, file) {
    return fetch("/api/v1/prompts/" + lang + "/" + encodeURIComponent(id) + "/upload", {
      method: "POST", credentials: "same-origin", body: file,
      headers: { "X-XSRFToken": HL.cookie("_xsrf"), "Accept": "application/json",
                 "Content-Type": file.type || "application/octet-stream" }
    }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (data) {
        if (!r.ok) { return Promise.reject({ status: r.status, error: data.error || r.statusText }); }
        return data;
      });
    });
  }

  table.addEventListener("click", function (ev) {
    var btn = ev.target.closest("button[data-action]");
    if (!btn) { return; }
    var tr = btn.closest("tr");
    var id = tr.getAttribute("data-prompt");
    var action = btn.getAttribute("data-action");
    if (action === "play") {
      play(id, LANG);
    } else if (action === "upload") {
      uploadTarget = id;
      fileInput.value = "";
      fileInput.click();
    } else if (action === "tts") {
      if (tr.getAttribute("data-source") === "recorded" &&
          !window.confirm(T("Replace the recording with speech? The recording is kept aside."))) { return; }
      btn.disabled = true;
      HL.api("POST", "/prompts/" + LANG + "/" + id + "/tts", {}).then(function (r) {
        btn.disabled = false;
        alertBox(null);
        refreshRow(r.prompt);
        HL.toast(fmt("%(id)s: speech generated", { id: id }));
        play(id, LANG);
      }, function (err) { btn.disabled = false; alertBox(id + ": " + err.error); });
    } else if (action === "record") {
      var ext = extSelect.value;
      if (!ext) { return; }
      HL.api("POST", "/prompts/" + LANG + "/" + id + "/record", { extension: ext }).then(function () {
        setRecordStatus("busy", fmt("Station %(ext)s is ringing: pick up to record %(id)s.", { ext: ext, id: id }));
      }, function (err) { setRecordStatus("bad", T("Failed") + ": " + err.error); });
    }
  });

  fileInput.addEventListener("change", function () {
    var file = fileInput.files[0];
    if (!file || !uploadTarget) { return; }
    var id = uploadTarget;
    upload(id, LANG, file).then(function (r) {
      alertBox(null);
      refreshRow(r.prompt);
      HL.toast(fmt("%(id)s: recording uploaded", { id: id }));
    }, function (err) { alertBox(id + ": " + err.error); });
  });

  document.getElementById("new-prompt-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var form = ev.target;
    var box = document.getElementById("new-prompt-error");
    box.hidden = true;
    var id = form.elements.id.value.trim(), lang = form.elements.language.value, file = form.elements.file.files[0];
    if (!file) { box.textContent = T("Choose a WAV file."); box.hidden = false; return; }
    upload(id, lang, file).then(function () {
      location.href = "/config/prompts?language=" + lang + "&q=" + encodeURIComponent(id);
    }, function (err) { box.textContent = err.error; box.hidden = false; });
  });

  /* A refused change stays in view (with what was wrong) until the next one succeeds. */
  function alertBox(text) {
    var box = document.getElementById("prompt-alert");
    box.hidden = !text;
    box.textContent = text || "";
  }

  function setRecordStatus(cls, text) {
    recordStatus.className = "record-status " + (cls ? "status-" + cls : "muted");
    recordStatus.textContent = text;
  }

  /* Record-by-phone progress from the server. */
  HL.live([], function (msg) {
    if (msg.type !== "prompt.recording") { return; }
    var v = { ext: msg.extension, id: msg.prompt };
    if (msg.state === "answered") { setRecordStatus("busy", fmt("Recording %(id)s: speak after the beep, then press #.", v)); }
    else if (msg.state === "saved") {
      setRecordStatus("ok", fmt("%(id)s recorded by phone and saved.", v));
      if (msg.language === LANG && msg.row) { refreshRow(msg.row); }
    } else if (msg.state === "not_saved") { setRecordStatus("warn", fmt("%(id)s: nothing was saved.", v)); }
    else if (msg.state === "no_answer") { setRecordStatus("warn", fmt("Station %(ext)s did not answer.", v)); }
    else if (msg.state === "failed") { setRecordStatus("bad", fmt("%(id)s: the recording call failed.", v)); }
  });

  try {   // remember the admin's own phone in this browser
    var saved = window.localStorage.getItem("hotline.prompt_extension");
    if (saved && Array.prototype.some.call(extSelect.options, function (o) { return o.value === saved; })) {
      extSelect.value = saved;
    }
    extSelect.addEventListener("change", function () { window.localStorage.setItem("hotline.prompt_extension", extSelect.value); });
  } catch (e) { /* storage disabled */ }
})();
