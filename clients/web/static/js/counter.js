/* The counter desk's behaviour (no inline script anywhere: the CSP forbids it).
 * - Focus: after a verdict the licence field has the focus again (a barcode scanner types
 *   into the focused field and presses Enter); after a refused form, the first field in error.
 * - A form is sent once: its submit button is disabled while it is on its way (the desk also
 *   acts at most once per form key, whatever the browser does).
 * - Camera scan: with a camera and the vendored jsQR decoder, a button opens the camera,
 *   decodes frames until a QR code is found, fills the licence field and submits the form,
 *   exactly as a barcode scanner does.
 * - The receipt page's Print button.
 */
(function () {
  "use strict";

  function focusStart() {
    var invalid = document.querySelector("[aria-invalid=true]");
    var target = invalid || document.getElementById("f-licence");
    if (target) {
      target.focus();
      if (!invalid && typeof target.select === "function") { target.select(); }
    }
  }

  function sendOnce() {
    var forms = document.querySelectorAll("form[method=post]");
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

  function camera() {
    var button = document.getElementById("scan-camera");
    var box = document.getElementById("camera");
    var video = document.getElementById("camera-video");
    var status = document.getElementById("camera-status");
    var stop = document.getElementById("camera-stop");
    var field = document.getElementById("f-licence");
    var form = document.getElementById("verify-form");
    if (!button || !field || !form || !navigator.mediaDevices ||
        typeof navigator.mediaDevices.getUserMedia !== "function" || typeof window.jsQR !== "function") {
      return;  // no camera or no decoder: the button stays hidden; typing and scanners still work
    }
    button.hidden = false;
    var stream = null;
    var canvas = document.createElement("canvas");
    var context = canvas.getContext("2d", { willReadFrequently: true });

    function close() {
      if (stream) { stream.getTracks().forEach(function (t) { t.stop(); }); }
      stream = null;
      box.hidden = true;
      field.focus();
    }

    function frame() {
      if (!stream) { return; }
      if (video.readyState >= 2 && video.videoWidth > 0) {
        canvas.width = video.videoWidth;
        canvas.height = video.videoHeight;
        context.drawImage(video, 0, 0, canvas.width, canvas.height);
        var image = context.getImageData(0, 0, canvas.width, canvas.height);
        var code = window.jsQR(image.data, image.width, image.height, { inversionAttempts: "dontInvert" });
        if (code && code.data) {
          field.value = code.data;
          close();
          if (typeof form.requestSubmit === "function") { form.requestSubmit(); } else { form.submit(); }
          return;
        }
      }
      window.requestAnimationFrame(frame);
    }

    button.addEventListener("click", function () {
      status.textContent = "正在打开摄像头… Opening the camera…";
      box.hidden = false;
      navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false })
        .then(function (s) {
          stream = s;
          video.srcObject = s;
          video.play();
          status.textContent = "请将二维码对准摄像头 Hold the QR code to the camera";
          window.requestAnimationFrame(frame);
        })
        .catch(function () {
          status.textContent = "无法打开摄像头，请输入编号或使用扫码枪。 The camera could not be opened: type the number or use a scanner.";
        });
    });
    stop.addEventListener("click", close);
  }

  function printing() {
    var button = document.getElementById("print");
    if (button) { button.addEventListener("click", function () { window.print(); }); }
  }

  document.addEventListener("DOMContentLoaded", function () {
    focusStart();
    sendOnce();
    camera();
    printing();
  });
}());
