/*
 * The landing page's one script (no inline script: CSP). It opens the Pay
 * Score mini program with the JS-SDK, as the spec describes:
 *   wx.config (signed by the server for this exact URL, read from data
 *   attributes) → wx.ready → wx.checkJsApi → wx.invoke('openBusinessView').
 * The invoke callback cannot tell whether the user agreed, so on return the
 * page polls the server (GET …/status) until the notification has made the
 * authorization AVAILABLE. Every message is rendered by the server from the
 * catalog; this script only unhides it.
 */
(function () {
  'use strict';

  var root = document.getElementById('landing');
  if (!root || root.getAttribute('data-mode') !== 'ready') return;
  var d = root.dataset;
  var retry = document.getElementById('landing-retry');
  var detail = document.getElementById('landing-detail');
  var POLL_MS = 2000;
  var POLL_LIMIT = 150; // five minutes, then say it is taking long
  var polling = false;
  var finished = false;

  // compareVersion compares dotted versions numerically part by part, as
  // the spec's example does: 7.0.10 is above 7.0.5.
  function compareVersion(a, b) {
    var x = String(a).split('.');
    var y = String(b).split('.');
    for (var i = 0; i < Math.max(x.length, y.length); i++) {
      var p = parseInt(x[i] || '0', 10) || 0;
      var q = parseInt(y[i] || '0', 10) || 0;
      if (p !== q) return p > q ? 1 : -1;
    }
    return 0;
  }

  function show(step, text) {
    var steps = root.querySelectorAll('[data-step]');
    for (var i = 0; i < steps.length; i++) {
      steps[i].hidden = steps[i].getAttribute('data-step') !== step;
    }
    detail.hidden = !text;
    detail.textContent = text || '';
    root.setAttribute('data-step', step);
  }

  function offerRetry(on) {
    retry.hidden = !on;
  }

  function poll(n) {
    if (finished) return;
    polling = true;
    window.fetch(d.statusUrl, { credentials: 'same-origin', cache: 'no-store' }).then(function (r) {
      return r.json();
    }).then(function (res) {
      if (res && res.state === 'AVAILABLE') {
        finished = true;
        offerRetry(false);
        show('done');
        return;
      }
      next(n);
    }, function () {
      next(n);
    });
  }

  function next(n) {
    if (n + 1 >= POLL_LIMIT) {
      polling = false;
      show('slow');
      offerRetry(true);
      return;
    }
    setTimeout(function () { poll(n + 1); }, POLL_MS);
  }

  function invoke() {
    show('opening');
    offerRetry(false);
    window.wx.invoke('openBusinessView', {
      businessType: 'wxpayScoreEnable',
      queryString: 'apply_permissions_token=' + encodeURIComponent(d.token)
    }, function (res) {
      // err_code is a String on Android and a Number on iOS.
      var code = parseInt(res && res.err_code, 10);
      if (finished) return;
      if (code === 0) {
        show('confirming');
      } else {
        show('cancelled', res && res.err_msg ? String(res.err_msg) : '');
        offerRetry(true);
      }
      // Either way only the server knows whether the user agreed.
      if (!polling) poll(0);
    });
  }

  function start() {
    show('preparing');
    offerRetry(false);
    window.wx.checkJsApi({
      jsApiList: ['openBusinessView'],
      success: function (res) {
        if (res && res.checkResult && res.checkResult.openBusinessView) {
          invoke();
        } else {
          show('unsupported');
        }
      },
      fail: function (res) {
        show('config-error', res && res.errMsg ? String(res.errMsg) : '');
        offerRetry(true);
      }
    });
  }

  var m = navigator.userAgent.match(/MicroMessenger\/([\d.]+)/i);
  if (!m || compareVersion(m[1], '7.0.5') < 0) {
    show('unsupported');
    return;
  }
  if (!window.wx) {
    show('nosdk');
    retry.hidden = false;
    retry.addEventListener('click', function () { window.location.reload(); });
    return;
  }
  retry.addEventListener('click', start);
  window.wx.config({
    debug: false,
    appId: d.appId,
    timestamp: parseInt(d.timestamp, 10),
    nonceStr: d.nonceStr,
    signature: d.signature,
    jsApiList: (d.jsApiList || '').split(',')
  });
  window.wx.error(function (res) {
    show('config-error', res && res.errMsg ? String(res.errMsg) : '');
    // A bad signature does not fix itself: retrying means loading the page
    // (and a fresh signature) again.
    retry.hidden = false;
    retry.removeEventListener('click', start);
    retry.addEventListener('click', function () { window.location.reload(); });
  });
  window.wx.ready(start);
})();
