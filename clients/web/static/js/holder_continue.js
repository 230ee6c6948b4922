// The holder's sign-in, step 3: carry the portal's assertion on to /me/signin/complete from
// this page (a same-site post, so the holder cookie goes with it). Without JavaScript the
// "Continue" button does the same.
"use strict";
(function () {
  var form = document.getElementById("complete-form");
  if (form) {
    form.submit();
  }
})();
