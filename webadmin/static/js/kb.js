/* Knowledge base: fax an article to a caller (through the API). */
(function () {
  "use strict";
  var T = HL.T, el = HL.el;

  function when(ts) { return HL.time(ts); }

  /* forms with data-confirm ask first: panel.js does it on every page */

  var mailForm = document.getElementById("kb-email-form");
  if (mailForm) {
    mailForm.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var to = document.getElementById("kb-email-to");
      var btn = mailForm.querySelector("button[type=submit]");
      btn.disabled = true;
      HL.api("POST", "/kb/articles/" + mailForm.getAttribute("data-article") + "/email", { to: to.value.trim() })
        .then(function () { to.value = ""; HL.toast(T("E-mail sent")); },
              function (err) { HL.toast(T("Failed") + ": " + err.error); })
        .then(function () { btn.disabled = false; });
    });
  }

  var form = document.getElementById("kb-fax-form");
  if (!form) { return; }
  var input = document.getElementById("kb-fax-number");
  var button = form.querySelector("button[type=submit]");
  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var number = input.value.trim();
    var digits = number.replace(/\D/g, "");
    if (digits.length < 5 || digits.length > 20) {
      input.setAttribute("aria-invalid", "true");
      HL.toast(T("Fax number: enter 5 to 20 digits."));
      input.focus();
      return;
    }
    input.removeAttribute("aria-invalid");
    button.disabled = true;
    HL.api("POST", "/kb/articles/" + form.getAttribute("data-article") + "/fax", { number: number })
      .then(function (job) {
        var tbody = document.querySelector("#kb-fax-table tbody");
        var row = el("tr", { "class": "kb-new-row" },
          el("td", { "class": "data nowrap" }, when(job.created_at)),
          el("td", { "class": "data" }, job.number),
          el("td", null, el("span", { "class": "badge warn" }, T("queued"))));
        tbody.insertBefore(row, tbody.firstChild);
        document.getElementById("kb-fax-none").hidden = true;
        input.value = "";
        HL.toast(T("Fax queued"));
      }, function (err) {
        HL.toast(err.status === 400 ? T("Fax number: enter 5 to 20 digits.") : T("Failed") + " (" + err.status + ")");
      })
      .then(function () { button.disabled = false; });
  });
})();
