// Touchflow console: the only script of our own. No inline scripts (the CSP forbids them).
// Draws every chart whose Vega-Lite spec sits in a <script type="application/json"> block, on load and after
// each htmx swap; vega runs with its expression interpreter (ast: true), so no eval is needed.
(function () {
  "use strict";
  function drawCharts(root) {
    var targets = (root || document).querySelectorAll("[data-vega-spec]");
    targets.forEach(function (el) {
      if (el.dataset.drawn === "1" || typeof window.vegaEmbed !== "function") { return; }
      var source = document.getElementById(el.dataset.vegaSpec);
      if (!source) { return; }
      el.dataset.drawn = "1";
      window.vegaEmbed(el, JSON.parse(source.textContent), { actions: false, ast: true, renderer: "svg" })
        .then(function (result) {
          var svg = el.querySelector("svg");
          if (svg && el.getAttribute("aria-label")) {
            svg.setAttribute("role", "img");
            svg.setAttribute("aria-label", el.getAttribute("aria-label"));
          }
          return result;
        })
        .catch(function (err) { el.textContent = el.dataset.failed || "chart unavailable"; console.warn(err); });
    });
  }
  document.addEventListener("DOMContentLoaded", function () { drawCharts(document); });
  document.addEventListener("htmx:afterSwap", function (evt) { drawCharts(evt.target); });
  // A session that ended while the page was open: htmx answers get HX-Redirect from the server;
  // a plain 401/403 fragment is shown in place rather than swallowed.
  document.addEventListener("htmx:responseError", function (evt) {
    var target = evt.detail.target;
    if (target && evt.detail.xhr) { target.innerHTML = evt.detail.xhr.responseText; }
  });
})();
