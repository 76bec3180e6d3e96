/* Site-wide behaviour without inline scripts (a CSP without 'unsafe-inline' works):
   - the language switch submits itself;
   - after a refused form, focus moves to the first field in error;
   - forms marked data-draft keep what was typed in the browser's session storage, so a session
     that expires while a form is open loses nothing: the draft is restored when the form is shown
     again (after logging in) and cleared once the form is sent and accepted. */
(function () {
  "use strict";
  var select = document.getElementById("language-select");
  if (select) {
    select.addEventListener("change", function () { select.form.submit(); });
  }

  document.addEventListener("click", function (event) {
    if (event.target.closest("[data-print]")) { window.print(); }
  });
  // A filter <select data-autosubmit> submits its form when changed; a print view opens the print dialog.
  document.addEventListener("change", function (event) {
    if (event.target.matches && event.target.matches("select[data-autosubmit]")) { event.target.form.submit(); }
  });
  if (document.body && document.body.hasAttribute("data-print-on-load")) {
    window.addEventListener("load", function () { window.print(); });
  }

  function focusFirstError() {
    var field = document.querySelector(".has-error input:not([type=hidden]), .has-error select, .has-error textarea, .errorlist ~ input, [aria-invalid=true]");
    if (!field) {
      var alert = document.querySelector(".errorlist");
      if (alert) { alert.setAttribute("tabindex", "-1"); alert.focus(); }
      return;
    }
    field.focus();
  }

  function storageKey(form) { return "draft:" + form.getAttribute("data-draft"); }

  function saveDraft(form) {
    var values = {};
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!el.name || el.type === "hidden" || el.type === "file" || el.type === "password" || el.name === "csrfmiddlewaretoken") { return; }
      if (el.type === "checkbox" || el.type === "radio") { if (el.checked) { values[el.name] = el.value; } return; }
      values[el.name] = el.value;
    });
    var totals = {};
    form.querySelectorAll("input[name$='-TOTAL_FORMS']").forEach(function (el) { totals[el.name] = el.value; });
    try { sessionStorage.setItem(storageKey(form), JSON.stringify({values: values, totals: totals})); } catch (e) { /* storage full or off */ }
  }

  function restoreDraft(form) {
    var raw;
    try { raw = sessionStorage.getItem(storageKey(form)); } catch (e) { return; }
    if (!raw) { return; }
    var draft = JSON.parse(raw);
    // Recreate the rows the draft had before filling them in.
    Object.keys(draft.totals || {}).forEach(function (name) {
      var total = form.querySelector("input[name='" + name + "']");
      if (!total) { return; }
      var set = total.closest("[data-rowset]");
      var button = set && set.querySelector("[data-add-row]");
      var guard = 100;
      while (button && parseInt(total.value, 10) < parseInt(draft.totals[name], 10) && guard-- > 0) { button.click(); }
    });
    Object.keys(draft.values).forEach(function (name) {
      var fields = form.querySelectorAll("[name='" + name + "']");
      fields.forEach(function (el) {
        if (el.type === "checkbox" || el.type === "radio") { el.checked = el.value === draft.values[name]; }
        else { el.value = draft.values[name]; }
      });
    });
    var note = document.createElement("p");
    note.className = "messages draft-note";
    note.setAttribute("role", "status");
    note.textContent = form.getAttribute("data-draft-restored") || document.documentElement.getAttribute("data-draft-restored") || "";
    if (note.textContent) { form.insertBefore(note, form.firstChild); }
  }

  document.addEventListener("DOMContentLoaded", function () {
    focusFirstError();
    document.querySelectorAll("form[data-draft]").forEach(function (form) {
      var refused = form.querySelector(".has-error, .errorlist");
      if (!refused) { restoreDraft(form); }
      form.addEventListener("input", function () { saveDraft(form); });
      form.addEventListener("change", function () { saveDraft(form); });
    });
    // The page after a sent form: a success message means the draft it came from was accepted.
    var pending = null;
    try { pending = sessionStorage.getItem("draft-pending"); } catch (e) { /* ignore */ }
    if (pending && document.querySelector(".messages .success")) {
      try { sessionStorage.removeItem("draft:" + pending); sessionStorage.removeItem("draft-pending"); } catch (e) { /* ignore */ }
    }
    document.querySelectorAll("form[data-draft]").forEach(function (form) {
      form.addEventListener("submit", function () {
        saveDraft(form);
        try { sessionStorage.setItem("draft-pending", form.getAttribute("data-draft")); } catch (e) { /* ignore */ }
      });
    });
  });
})();
