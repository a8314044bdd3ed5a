/*
 * Sandbox shim of the WeChat JS-SDK 1.5.0 (jweixin-1.5.0.js), served by the
 * payscore-console sandbox at <base>/jweixin.js. It implements what the
 * landing page uses, with the real SDK's contract:
 *
 *   wx.config({debug, appId, timestamp, nonceStr, signature, jsApiList})
 *     The signature is checked by the sandbox server (POST <base>/jssdk/verify
 *     with the page's URL without its fragment). Then wx.ready callbacks run,
 *     or wx.error callbacks get {errMsg: 'config:invalid signature'} and a red
 *     banner shows on the page.
 *   wx.ready(fn), wx.error(fn)
 *   wx.checkJsApi({jsApiList, success, fail, complete})
 *     success gets {checkResult: {openBusinessView: true}, errMsg: 'checkJsApi:ok'}.
 *   wx.invoke('openBusinessView', {businessType: 'wxpayScoreEnable',
 *             queryString: 'apply_permissions_token=…'}, cb)
 *     Opens the simulated Pay Score page in a full-screen frame. When the user
 *     comes back, cb gets {err_code: '0', err_msg: 'openBusinessView:ok'}
 *     (err_code a String, as on Android). As with WeChat, the callback does
 *     not say whether the user agreed: only the notification or a query does.
 *
 * Calls made before wx.config has a result wait for it; calls after a failed
 * (or missing) wx.config fail with "permission denied".
 */
(function (window, document) {
  'use strict';

  var script = document.currentScript;
  // Everything else the shim talks to lives beside it under the sandbox prefix.
  var base = script && script.src ? script.src.replace(/jweixin\.js(?:[?#].*)?$/, '') : '/sandbox/';
  var origin = new URL(base, window.location.href).origin;
  var SUPPORTED = ['checkJsApi', 'openBusinessView'];

  var state = 'none'; // none | verifying | ok | failed
  var failure = null;
  var readyQueue = [];
  var errorQueue = [];
  var waiting = [];
  var debug = false;

  function log() {
    if (debug && window.console) {
      window.console.log.apply(window.console, ['[jweixin sandbox]'].concat([].slice.call(arguments)));
    }
  }

  function later(fn, arg) {
    setTimeout(function () { fn(arg); }, 0);
  }

  function onBody(fn) {
    if (document.body) {
      fn(document.body);
    } else {
      document.addEventListener('DOMContentLoaded', function () { fn(document.body); });
    }
  }

  // banner shows a wrong configuration where a developer cannot miss it.
  // Styles are set through the CSSOM, which a CSP without 'unsafe-inline' allows.
  function banner(text) {
    onBody(function (body) {
      var el = document.getElementById('wx-sandbox-banner');
      if (!el) {
        el = document.createElement('div');
        el.id = 'wx-sandbox-banner';
        el.setAttribute('role', 'alert');
        el.setAttribute('data-testid', 'wx-sandbox-banner');
        var s = el.style;
        s.position = 'fixed';
        s.top = '0';
        s.left = '0';
        s.right = '0';
        s.zIndex = '2147483647';
        s.background = '#d93025';
        s.color = '#fff';
        s.padding = '12px 16px';
        s.font = '14px/1.5 -apple-system, "PingFang SC", sans-serif';
        s.whiteSpace = 'pre-wrap';
        s.wordBreak = 'break-all';
        body.appendChild(el);
      }
      el.textContent = text;
    });
  }

  function settle(err) {
    if (err) {
      state = 'failed';
      failure = { errMsg: err.errMsg };
      log('config failed', err);
      banner('JS-SDK 沙箱:wx.config 失败 — ' + err.errMsg + (err.reason ? '\n' + err.reason : ''));
      errorQueue.splice(0).forEach(function (fn) { later(fn, failure); });
    } else {
      state = 'ok';
      log('config ok');
      readyQueue.splice(0).forEach(function (fn) { later(fn); });
    }
    waiting.splice(0).forEach(function (fn) { fn(); });
  }

  function whenConfigured(fn) {
    if (state === 'verifying') {
      waiting.push(fn);
    } else {
      fn();
    }
  }

  function respond(opt, kind, res) {
    if (typeof opt[kind] === 'function') opt[kind](res);
    if (typeof opt.complete === 'function') opt.complete(res);
  }

  function config(cfg) {
    cfg = cfg || {};
    debug = !!cfg.debug;
    state = 'verifying';
    var payload = {
      appId: cfg.appId,
      timestamp: cfg.timestamp,
      nonceStr: cfg.nonceStr,
      signature: cfg.signature,
      jsApiList: cfg.jsApiList || [],
      url: window.location.href.split('#')[0]
    };
    log('config', payload);
    window.fetch(base + 'jssdk/verify', {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(payload)
    }).then(function (r) {
      return r.json();
    }).then(function (res) {
      settle(res && res.ok ? null : { errMsg: (res && res.errMsg) || 'config:invalid signature', reason: res && res.reason });
    }, function (e) {
      settle({ errMsg: 'config:fail', reason: String(e) });
    });
  }

  function ready(fn) {
    if (typeof fn !== 'function') return;
    if (state === 'ok') later(fn); else readyQueue.push(fn);
  }

  function error(fn) {
    if (typeof fn !== 'function') return;
    if (state === 'failed') later(fn, failure); else errorQueue.push(fn);
  }

  function checkJsApi(opt) {
    opt = opt || {};
    whenConfigured(function () {
      if (state !== 'ok') {
        later(function () { respond(opt, 'fail', { errMsg: 'checkJsApi:permission denied' }); });
        return;
      }
      var result = {};
      (opt.jsApiList || []).forEach(function (name) { result[name] = SUPPORTED.indexOf(name) >= 0; });
      later(function () { respond(opt, 'success', { checkResult: result, errMsg: 'checkJsApi:ok' }); });
    });
  }

  function openConsent(token, cb) {
    onBody(function (body) {
      var overlay = document.createElement('div');
      overlay.setAttribute('data-testid', 'wx-sandbox-overlay');
      var s = overlay.style;
      s.position = 'fixed';
      s.top = '0';
      s.left = '0';
      s.width = '100%';
      s.height = '100%';
      s.zIndex = '2147483646';
      s.background = '#fff';
      var frame = document.createElement('iframe');
      frame.title = '微信支付分';
      frame.src = base + 'payscore?apply_permissions_token=' + encodeURIComponent(token);
      frame.style.width = '100%';
      frame.style.height = '100%';
      frame.style.border = '0';
      overlay.appendChild(frame);

      // The consent page says the user came back by postMessage; only our
      // own frame, from the sandbox's origin, is listened to.
      function onMessage(ev) {
        if (ev.origin !== origin || ev.source !== frame.contentWindow) return;
        var d = ev.data || {};
        if (d.source !== 'payscore-sandbox' || d.type !== 'return') return;
        window.removeEventListener('message', onMessage);
        if (overlay.parentNode) overlay.parentNode.removeChild(overlay);
        log('openBusinessView returned');
        cb({ err_code: '0', err_msg: 'openBusinessView:ok', extraData: {} });
      }
      window.addEventListener('message', onMessage);
      body.appendChild(overlay);
    });
  }

  function invoke(name, args, cb) {
    cb = typeof cb === 'function' ? cb : function () {};
    whenConfigured(function () {
      if (state !== 'ok') {
        later(cb, { err_code: '-1', err_msg: name + ':permission denied' });
        return;
      }
      if (name !== 'openBusinessView') {
        later(cb, { err_code: '-1', err_msg: name + ':fail, not simulated by the sandbox' });
        return;
      }
      args = args || {};
      if (args.businessType !== 'wxpayScoreEnable') {
        later(cb, { err_code: '-1', err_msg: 'openBusinessView:fail, invalid businessType' });
        return;
      }
      var token = new URLSearchParams(String(args.queryString || '')).get('apply_permissions_token');
      if (!token) {
        later(cb, { err_code: '-1', err_msg: 'openBusinessView:fail, queryString lacks apply_permissions_token' });
        return;
      }
      openConsent(token, cb);
    });
  }

  var wx = {
    config: config,
    ready: ready,
    error: error,
    checkJsApi: checkJsApi,
    invoke: invoke,
    sandbox: true
  };
  window.wx = window.jWeixin = wx;
})(window, document);
