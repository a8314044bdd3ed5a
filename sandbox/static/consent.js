/*
 * The simulated Pay Score page's one script (no inline script: CSP).
 * "返回商户" tells the JS-SDK shim of the page that opened us, in the frame's
 * parent, that the user came back; opened on its own, it goes back.
 */
(function () {
  'use strict';
  var button = document.getElementById('sandbox-return');
  if (!button) return;
  button.addEventListener('click', function () {
    if (window.parent && window.parent !== window) {
      // '*': the opener may be a partner's page on another origin
      // (standalone sandbox); the message carries nothing secret.
      window.parent.postMessage({ source: 'payscore-sandbox', type: 'return' }, '*');
    } else {
      window.history.back();
    }
  });
})();
