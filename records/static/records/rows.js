/* Formset rows added and removed on the page; no inline script, so a strict CSP works.
   A removed row is cleared and hidden: a blank row is skipped by the server, so nothing half-typed is sent. */
(function () {
  "use strict";
  function rowsetOf(el) { return el.closest("[data-rowset]"); }
  document.addEventListener("click", function (event) {
    var add = event.target.closest("[data-add-row]");
    if (add) {
      var set = rowsetOf(add);
      var prefix = set.getAttribute("data-rowset");
      var total = set.querySelector("input[name='" + prefix + "-TOTAL_FORMS']");
      var max = set.querySelector("input[name='" + prefix + "-MAX_NUM_FORMS']");
      var index = parseInt(total.value, 10);
      if (max && index >= parseInt(max.value, 10)) { return; }
      var template = set.querySelector("template[data-row-template]");
      var html = template.innerHTML.replace(/__prefix__/g, String(index));
      var holder = document.createElement("div");
      holder.innerHTML = html.trim();
      var row = holder.firstElementChild;
      set.querySelector("[data-rows]").appendChild(row);
      total.value = String(index + 1);
      if (window.htmx) { window.htmx.process(row); }
      var first = row.querySelector("input:not([type=hidden]), select, textarea");
      if (first) { first.focus(); }
      return;
    }
    var remove = event.target.closest("[data-remove-row]");
    if (remove) {
      var target = remove.closest("[data-row]");
      target.querySelectorAll("input, select, textarea").forEach(function (input) {
        if (input.type === "checkbox" || input.type === "radio") { input.checked = false; }
        else if (input.tagName === "SELECT") { input.selectedIndex = 0; }
        else { input.value = ""; }
      });
      target.hidden = true;
      target.setAttribute("data-removed", "");
    }
  });
})();
