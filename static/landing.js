/*
 * The landing page's one script (no inline script: CSP). Outside WeChat on
 * a phone it only copies the link. In WeChat it opens the Pay Score mini
 * program with the JS-SDK, as the spec describes:
 *   wx.config (signed by the server for this exact URL, read from data
 *   attributes) → wx.ready → wx.checkJsApi → wx.invoke('openBusinessView').
 * The invoke callback cannot tell whether the user agreed, so on return the
 * page shows progress and polls the server (GET …/status) until the
 * notification has made the authorization AVAILABLE (or it ended). If none
 * came within data-wait seconds it offers "再次开启" and says why, still
 * polling; a decline seen in the callback offers it at once. Steps go to the
 * funnel as same-origin beacons with the page's token. Every message is
 * rendered by the server from the catalog; this script only unhides it.
 */
(function () {
  'use strict';

  var root = document.getElementById('landing');
  if (!root) return;
  var mode = root.getAttribute('data-mode');
  if (mode === 'outside') {
    var copy = document.getElementById('landing-copy');
    var input = document.getElementById('landing-url');
    if (!copy || !input) return;
    copy.addEventListener('click', function () {
      function done() { copy.textContent = copy.getAttribute('data-copied'); }
      function fallback() {
        input.focus();
        input.select();
        try { if (document.execCommand('copy')) done(); } catch (e) { /* selected: the user copies */ }
      }
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(input.value).then(done, fallback);
      } else {
        fallback();
      }
    });
    return;
  }
  if (mode !== 'ready') return;
  var d = root.dataset;
  var $ = function (id) { return document.getElementById(id); };
  var retry = $('landing-retry');
  var reopen = $('landing-reopen');
  var detail = $('landing-detail');
  var progress = $('landing-progress');
  var elapsed = $('landing-elapsed');
  var WAIT_MS = (parseInt(d.wait, 10) || 10) * 1000;
  var polling = false;
  var finished = false;
  var returnedAt = 0;
  var ticker = 0;

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

  // beacon counts a step of the funnel; failures are nobody's concern.
  function beacon(step, code, msg) {
    var body = 'step=' + encodeURIComponent(step);
    if (step === 'answer') {
      body += '&err_code=' + encodeURIComponent(code) + '&err_msg=' + encodeURIComponent(msg);
    }
    try {
      window.fetch(d.eventUrl, {
        method: 'POST', credentials: 'same-origin', keepalive: true,
        headers: { 'Content-Type': 'application/x-www-form-urlencoded', 'X-Beacon-Token': d.beacon },
        body: body
      }).catch(function () {});
    } catch (e) { /* old WebView without fetch options */ }
  }

  function finish(step) {
    finished = true;
    retry.hidden = true;
    reopen.hidden = true;
    progress.hidden = true;
    clearInterval(ticker);
    var intro = root.querySelector('[data-intro]');
    if (intro) intro.hidden = true;
    show(step);
  }

  // tick shows the seconds since the return, and after WAIT_MS without a
  // result says so and offers to open again (the polling goes on).
  function tick() {
    var s = Math.floor((Date.now() - returnedAt) / 1000);
    elapsed.textContent = s + 's';
    if (!finished && Date.now() - returnedAt >= WAIT_MS && root.getAttribute('data-step') === 'confirming') {
      show('waiting');
      reopen.hidden = false;
    }
  }

  function poll() {
    if (finished) return;
    polling = true;
    window.fetch(d.statusUrl, { credentials: 'same-origin', cache: 'no-store' }).then(function (r) {
      return r.json();
    }).then(function (res) {
      var state = res && res.state;
      if (state === 'AVAILABLE') return finish('done');
      if (state === 'UNAVAILABLE') return finish('ended');
      next();
    }, next);
  }

  // next polls every 2 s for the first 5 minutes, then every 10 s.
  function next() {
    setTimeout(poll, Date.now() - returnedAt < 300000 ? 2000 : 10000);
  }

  function returned(declined, msg) {
    returnedAt = Date.now();
    progress.hidden = false;
    clearInterval(ticker);
    ticker = setInterval(tick, 1000);
    if (declined) {
      show('cancelled', msg);
      reopen.hidden = false;
    } else {
      show('confirming');
    }
    tick();
    // Either way only the server knows whether the user agreed.
    if (!polling) poll();
  }

  function invoke() {
    show('opening');
    retry.hidden = true;
    reopen.hidden = true;
    progress.hidden = true;
    clearInterval(ticker);
    beacon('invoked');
    window.wx.invoke('openBusinessView', {
      businessType: 'wxpayScoreEnable',
      queryString: 'apply_permissions_token=' + encodeURIComponent(d.token)
    }, function (res) {
      // err_code is a String on Android and a Number on iOS.
      var code = parseInt(res && res.err_code, 10);
      var msg = res && res.err_msg ? String(res.err_msg) : '';
      beacon('answer', isNaN(code) ? '' : String(code), msg);
      if (finished) return;
      returned(code !== 0 || /:cancel$/i.test(msg), code !== 0 ? msg : '');
    });
  }

  function start() {
    show('preparing');
    retry.hidden = true;
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
        retry.hidden = false;
      }
    });
  }

  var m = navigator.userAgent.match(/MicroMessenger\/([\d.]+)/i);
  if (!m || compareVersion(m[1], '7.0.5') < 0) {
    show('unsupported');
    return;
  }
  var reload = function () { window.location.reload(); };
  if (!window.wx) {
    show('nosdk');
    retry.hidden = false;
    retry.addEventListener('click', reload);
    return;
  }
  retry.addEventListener('click', start);
  // Opening again goes straight to WeChat's page; a page held open past the
  // token's hour reloads instead, so the server can renew it.
  var loaded = Date.now();
  reopen.addEventListener('click', function () {
    if (Date.now() - loaded > 50 * 60000) return reload();
    invoke();
  });
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
    retry.addEventListener('click', reload);
  });
  window.wx.ready(start);
})();
