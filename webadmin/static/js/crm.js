/* Service CRM pages: contact-number rows on the customer form, confirmation before deleting. */
(function () {
  "use strict";

  /* Forms with data-confirm ask first (delete buttons): panel.js does it for every page. */

  /* Customer form: add and remove contact-number rows (the last row always stays, emptied). */
  var rows = document.getElementById("phone-rows");
  var template = document.getElementById("phone-row-template");
  var add = document.getElementById("phone-add");
  if (!rows || !template || !add) { return; }

  function wire(row) {
    var remove = row.querySelector(".phone-remove");
    if (!remove) { return; }
    remove.addEventListener("click", function () {
      if (rows.querySelectorAll(".phone-row").length > 1) {
        row.parentNode.removeChild(row);
      } else {
        row.querySelector("input[name=phone_number]").value = "";
      }
    });
  }
  rows.querySelectorAll(".phone-row").forEach(wire);
  add.addEventListener("click", function () {
    var row = template.content.firstElementChild.cloneNode(true);
    rows.appendChild(row);
    wire(row);
    row.querySelector("input[name=phone_number]").focus();
  });
})();
