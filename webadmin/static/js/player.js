/* Recordings and voicemail: one player (audio element + waveform canvas + progress bar, click to seek),
   delete with confirmation, mark voicemail read. Labels come from data-* attributes rendered in the user's
   language; rows carry data-audio (byte-range WAV) and data-peaks (waveform JSON). */
(function () {
  "use strict";
  var card = document.getElementById("player");
  var audio = document.getElementById("player-audio");
  var canvas = document.getElementById("player-wave");
  var bar = document.getElementById("player-bar");
  var toggle = document.getElementById("player-toggle");
  var timeEl = document.getElementById("player-time");
  var peaks = [], current = null, raf = 0;

  function label(name) { return card ? card.getAttribute("data-" + name) : ""; }

  function fraction() {
    return audio && audio.duration > 0 && isFinite(audio.duration) ? audio.currentTime / audio.duration : 0;
  }

  function draw() {
    if (!canvas) { return; }
    var ratio = window.devicePixelRatio || 1;
    var w = Math.max(1, Math.floor(canvas.clientWidth * ratio)), h = Math.max(1, Math.floor(canvas.clientHeight * ratio));
    if (canvas.width !== w || canvas.height !== h) { canvas.width = w; canvas.height = h; }
    var g = canvas.getContext("2d");
    g.clearRect(0, 0, w, h);
    var mid = h / 2, step = 3 * ratio, barW = 2 * ratio, n = Math.floor(w / step);
    var top = peaks.reduce(function (m, p) { return Math.max(m, p); }, 0) || 1;
    var played = fraction() * w;
    g.fillStyle = "#eef1f6";
    g.fillRect(0, mid - ratio / 2, w, ratio);
    for (var i = 0; i < n && peaks.length; i++) {
      var a = Math.floor(i * peaks.length / n), b = Math.max(a + 1, Math.floor((i + 1) * peaks.length / n));
      var p = 0;
      for (var k = a; k < b && k < peaks.length; k++) { p = Math.max(p, peaks[k]); }
      var amp = Math.max(ratio, (p / top) * (h * 0.46));
      g.fillStyle = i * step < played ? "#0b5cad" : "#b8c3d4";
      g.fillRect(i * step, mid - amp, barW, amp * 2);
    }
    if (played > 0) {
      g.fillStyle = "#14213d";
      g.fillRect(Math.min(played, w - ratio), 0, ratio, h);
    }
  }

  function update() {
    var f = fraction();
    if (bar) {
      bar.firstElementChild.style.width = (f * 100).toFixed(2) + "%";
      bar.setAttribute("aria-valuenow", String(Math.round(f * 100)));
    }
    if (timeEl) {
      var d = audio.duration > 0 && isFinite(audio.duration) ? audio.duration : 0;
      timeEl.textContent = HL.duration(audio.currentTime || 0) + " / " + HL.duration(d);
    }
    if (toggle) { toggle.textContent = audio.paused ? label("play-label") : label("pause-label"); }
    draw();
  }

  function loop() {
    update();
    raf = audio.paused ? 0 : requestAnimationFrame(loop);
  }

  function seekTo(ev, el) {
    if (!audio.duration || !isFinite(audio.duration)) { return; }
    var rect = el.getBoundingClientRect();
    var f = Math.min(1, Math.max(0, (ev.clientX - rect.left) / rect.width));
    audio.currentTime = f * audio.duration;
    update();
  }

  function open(row) {
    if (!card) { return; }
    if (current) { current.classList.remove("playing"); }
    current = row;
    row.classList.add("playing");
    card.hidden = false;
    document.getElementById("player-title").textContent = row.getAttribute("data-title") || "";
    document.getElementById("player-sub").textContent = row.getAttribute("data-sub") || "";
    document.getElementById("player-download").setAttribute("href", row.getAttribute("data-audio"));
    peaks = [];
    canvas.setAttribute("data-drawn", "0");
    fetch(row.getAttribute("data-peaks"), { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
      .then(function (data) {
        if (current !== row) { return; }
        peaks = data.peaks || [];
        canvas.setAttribute("data-drawn", "1");
        draw();
      })
      .catch(function () { HL.toast(label("error")); });
    audio.src = row.getAttribute("data-audio");
    var playing = audio.play();
    if (playing && playing.catch) { playing.catch(function () { update(); }); }
    update();
    card.scrollIntoView({ block: "nearest" });
  }

  if (audio) {
    ["timeupdate", "loadedmetadata", "durationchange", "pause", "ended", "seeked"].forEach(function (ev) {
      audio.addEventListener(ev, update);
    });
    audio.addEventListener("play", function () { if (!raf) { raf = requestAnimationFrame(loop); } });
    audio.addEventListener("error", function () { if (audio.getAttribute("src")) { HL.toast(label("error")); } });
    toggle.addEventListener("click", function () { if (audio.paused) { audio.play(); } else { audio.pause(); } });
    canvas.addEventListener("click", function (ev) { seekTo(ev, canvas); });
    bar.addEventListener("click", function (ev) { seekTo(ev, bar); });
    window.addEventListener("resize", draw);
  }

  document.addEventListener("click", function (ev) {
    var t = ev.target;
    var play = t.closest && t.closest("[data-play]");
    if (play) { open(play.closest("tr")); return; }
    var del = t.closest && t.closest("[data-delete]");
    if (del) {
      if (!window.confirm(del.getAttribute("data-confirm"))) { return; }
      del.disabled = true;
      HL.api("DELETE", del.getAttribute("data-delete")).then(function () {
        var row = del.closest("tr");
        if (row === current) { audio.pause(); audio.removeAttribute("src"); card.hidden = true; current = null; }
        row.parentNode.removeChild(row);
        HL.toast(del.getAttribute("data-done"));
      }, function (err) { del.disabled = false; HL.toast(HL.T("Error") + ": " + err.error); });
      return;
    }
    var read = t.closest && t.closest("[data-read]");
    if (read) {
      var unread = read.getAttribute("data-unread") === "true";
      read.disabled = true;
      HL.api("POST", read.getAttribute("data-read"), { unread: unread }).then(function (res) {
        var row = read.closest("tr");
        row.classList.toggle("unread", res.unread);
        var badge = row.querySelector(".vm-state");
        badge.className = "badge vm-state " + (res.unread ? "busy" : "");
        badge.textContent = res.unread ? badge.getAttribute("data-unread-label") : badge.getAttribute("data-read-label");
        read.setAttribute("data-unread", res.unread ? "false" : "true");
        read.textContent = res.unread ? read.getAttribute("data-mark-read") : read.getAttribute("data-mark-unread");
        read.disabled = false;
      }, function (err) { read.disabled = false; HL.toast(HL.T("Error") + ": " + err.error); });
    }
  });
})();
