// Small behaviours for the console; no inline script is allowed by the CSP.
document.addEventListener("click", function (e) {
  var btn = e.target.closest("[data-copy]");
  if (!btn) return;
  var el = document.getElementById(btn.getAttribute("data-copy"));
  if (!el || !navigator.clipboard) return;
  navigator.clipboard.writeText(el.value || el.textContent).then(function () {
    var old = btn.textContent;
    btn.textContent = btn.getAttribute("data-copied") || "✓";
    setTimeout(function () { btn.textContent = old; }, 1500);
  });
});

// == ux2: feedback while WeChat Pay answers ==
// A submitted form's submit buttons are disabled (after the browser has
// taken the form's values, so a clicked button's name=value is still sent)
// and a second submit is dropped: a second click never sends the request
// again. A form with a wait note (views.WaitNote: its action calls WeChat
// Pay) says it is waiting, and after 2 s that it is still waiting. Without
// JavaScript the forms work as before; htmx forms (the look-up) also
// disable their button with hx-disable.
(function () {
  var SLOW_MS = 2000;
  function buttons(form) {
    return form.querySelectorAll('button[type="submit"], button:not([type]), input[type="submit"]');
  }
  function reset(form) {
    if (!form.dataset.busy) return;
    delete form.dataset.busy;
    clearTimeout(form._ux2Slow);
    form.removeAttribute("aria-busy");
    buttons(form).forEach(function (b) { b.disabled = false; });
    var note = form.querySelector(".wait-note");
    if (note) { note.textContent = ""; note.classList.remove("waiting", "slow"); }
  }
  document.addEventListener("submit", function (e) {
    var form = e.target;
    if (!(form instanceof HTMLFormElement) || form.method.toLowerCase() !== "post" && !form.querySelector(".wait-note")) return;
    var htmx = form.hasAttribute("hx-get") || form.hasAttribute("hx-post");
    if (form.dataset.busy) {
      if (!htmx) e.preventDefault();
      return;
    }
    form.dataset.busy = "1";
    form.setAttribute("aria-busy", "true");
    if (!htmx) {
      setTimeout(function () { buttons(form).forEach(function (b) { b.disabled = true; }); }, 0);
    }
    var note = form.querySelector(".wait-note");
    if (note) {
      note.textContent = note.getAttribute("data-wait");
      note.classList.add("waiting");
      form._ux2Slow = setTimeout(function () {
        note.textContent = note.getAttribute("data-slow");
        note.classList.add("slow");
      }, SLOW_MS);
    }
  });
  // An htmx request that ends without replacing its form frees it again.
  document.addEventListener("htmx:finally:request", function (e) {
    var elt = e.target;
    var form = elt && elt.closest ? elt.closest("form") : null;
    if (form) reset(form);
  });
  // Back to a page kept by the browser (back/forward cache): free its forms.
  window.addEventListener("pageshow", function (e) {
    if (e.persisted) document.querySelectorAll("form[data-busy]").forEach(reset);
  });
  // A common reason chosen fills the reason field (typed text wins anyway).
  document.addEventListener("change", function (e) {
    var r = e.target;
    if (!r.matches || !r.matches("input[data-reason-choice]")) return;
    var field = document.getElementById(r.getAttribute("data-reason-choice"));
    if (field && r.checked) field.value = r.value;
  });
})();

// == ux3: click-to-copy on codes, openids and Request-IDs ==
// A Copyable (views/upstream.templ) is selectable text plus a button that
// stays hidden unless this script can copy; the value is in data-copy-text.
(function () {
  if (!navigator.clipboard) return;
  function reveal(root) {
    var btns = (root || document).querySelectorAll("button[data-copy-text][hidden]");
    for (var i = 0; i < btns.length; i++) btns[i].hidden = false;
  }
  document.addEventListener("DOMContentLoaded", function () { reveal(document); });
  new MutationObserver(function () { reveal(document); }).observe(document.documentElement, { childList: true, subtree: true });
  document.addEventListener("click", function (e) {
    var btn = e.target.closest("button[data-copy-text]");
    if (!btn) return;
    navigator.clipboard.writeText(btn.getAttribute("data-copy-text")).then(function () {
      btn.classList.add("copied");
      btn.setAttribute("data-was", btn.title);
      btn.title = btn.getAttribute("data-copied") || "✓";
      setTimeout(function () { btn.classList.remove("copied"); btn.title = btn.getAttribute("data-was"); }, 1500);
    });
  });
})();

// == ux3: the callback log's live indicator and new rows ==
// The poller (views/callbacks.templ) says it is live only where a script
// runs it; rows a poll prepends are highlighted for a few seconds.
(function () {
  function reveal() {
    var live = document.querySelectorAll("[data-live][hidden]");
    for (var i = 0; i < live.length; i++) live[i].hidden = false;
  }
  function watch(id) {
    var body = document.getElementById(id);
    if (!body) return;
    new MutationObserver(function (records) {
      records.forEach(function (r) {
        r.addedNodes.forEach(function (n) {
          if (n.nodeName !== "TR") return;
          n.classList.add("fresh");
          setTimeout(function () { n.classList.remove("fresh"); }, 6000);
        });
      });
      reveal();
    }).observe(body, { childList: true });
  }
  function start() {
    reveal();
    watch("callback-rows");
    watch("refusal-rows");
    var poller = document.getElementById("callback-poller");
    if (poller && poller.parentNode) new MutationObserver(reveal).observe(poller.parentNode, { childList: true });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
