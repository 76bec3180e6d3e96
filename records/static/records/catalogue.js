/* Picking a drug or service item from the catalogue fills its row: code, unit price, class, category.
   The options come from the catalogue search (htmx, records:catalogue-search); no inline script (CSP). */
(function () {
  "use strict";
  function fill(input) {
    var list = input.list;
    if (!list) { return; }
    var chosen = null;
    Array.prototype.forEach.call(list.options, function (option) {
      if (option.value === input.value) { chosen = option; }
    });
    if (!chosen) { return; }
    var row = input.closest("[data-row]") || input.form;
    function set(selector, value) {
      var field = row.querySelector(selector);
      if (field && value !== undefined && value !== null) { field.value = value; }
    }
    set(".catalogue-code", chosen.getAttribute("data-code"));
    set("input[name$='-unit_price']", chosen.getAttribute("data-price"));
    set("select[name$='-catalogue_class']", chosen.getAttribute("data-class"));
    set("select[name$='-category']", chosen.getAttribute("data-category"));
    var quantity = row.querySelector("input[name$='-quantity']");
    if (quantity && !quantity.value) { quantity.value = "1"; }
  }
  document.addEventListener("change", function (event) {
    if (event.target.matches && event.target.matches("input.catalogue-name")) { fill(event.target); }
  });
  document.addEventListener("input", function (event) {
    if (event.target.matches && event.target.matches("input.catalogue-name")) { fill(event.target); }
  });
})();
