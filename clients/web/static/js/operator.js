/* The operator desk's behaviour (no inline script anywhere: the CSP forbids it).
 * - A form is sent once: its submit button is disabled while it is on its way (the desk also
 *   acts at most once per form key, and the store once per idempotency key).
 * - After a refused form, the first field in error has the focus.
 * The bulk import's progress is polled by htmx (hx-trigger="every 1s" in the page).
 */
(function () {
  "use strict";

  function sendOnce() {
    var forms = document.querySelectorAll("form.send-once");
    Array.prototype.forEach.call(forms, function (form) {
      form.addEventListener("submit", function () {
        var buttons = form.querySelectorAll("button[type=submit]");
        Array.prototype.forEach.call(buttons, function (b) {
          b.disabled = true;
          b.setAttribute("aria-busy", "true");
        });
      });
    });
  }

  function focusError() {
    var invalid = document.querySelector("[aria-invalid=true]");
    if (invalid) { invalid.focus(); }
  }

  document.addEventListener("DOMContentLoaded", function () {
    sendOnce();
    focusError();
  });
}());
