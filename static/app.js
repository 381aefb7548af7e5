// Stent Desk: progressive enhancement only; every page works without this file.
// No inline handlers anywhere (the Content-Security-Policy forbids them).
(function () {
  "use strict";

  // A oneOf choice shows only the chosen variant's fields; without JS all are shown.
  // Markup (templates/forms/_field_choice.html): a fieldset[data-choice] holds the radios
  // and one fieldset[data-variant="<radio value>"] per variant.
  function syncVariants(root) {
    root.querySelectorAll("fieldset[data-choice]").forEach(function (choice) {
      var checked = choice.querySelector("input[type=radio]:checked");
      var chosen = checked ? checked.value : null;
      choice.querySelectorAll("fieldset[data-variant]").forEach(function (fieldset) {
        var show = chosen === null || fieldset.getAttribute("data-variant") === chosen;
        fieldset.hidden = !show;
        fieldset.disabled = !show;
      });
    });
  }

  document.addEventListener("change", function (event) {
    if (event.target.closest && event.target.closest("fieldset[data-choice]")) {
      syncVariants(document);
    }
  });
  document.addEventListener("DOMContentLoaded", function () { syncVariants(document); });
  document.addEventListener("htmx:afterSwap", function (event) { syncVariants(event.target); });
})();
