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
