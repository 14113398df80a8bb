// creditbook dashboard: draws the charts described by <canvas data-chart="ID"> elements,
// whose configuration is JSON in <script type="application/json" id="ID">. Runs on load
// and after every htmx swap. Without Chart.js (assets not installed) it does nothing: the
// page shows a notice and the tables carry every figure.
(function () {
  "use strict";

  var numberFormat = new Intl.NumberFormat("en-US", { maximumFractionDigits: 3 });

  function credits(value) {
    return numberFormat.format(value);
  }

  function barOptions(config) {
    return {
      responsive: true,
      maintainAspectRatio: false,
      animation: false,
      interaction: { mode: "index", intersect: false },
      scales: {
        x: { stacked: true, grid: { display: false }, ticks: { autoSkip: true, maxRotation: 0 } },
        y: {
          stacked: true,
          beginAtZero: true,
          ticks: { callback: function (value) { return credits(value); } },
          title: { display: true, text: "credits" }
        }
      },
      plugins: {
        legend: { position: "bottom" },
        tooltip: {
          callbacks: {
            label: function (item) {
              return item.dataset.label + ": " + credits(item.parsed.y) + " credits";
            },
            footer: function (items) {
              var total = items.reduce(function (sum, item) { return sum + item.parsed.y; }, 0);
              return "Total: " + credits(total) + " credits";
            }
          }
        }
      }
    };
  }

  function doughnutOptions() {
    return {
      responsive: true,
      maintainAspectRatio: false,
      animation: false,
      plugins: {
        legend: { position: "bottom" },
        tooltip: {
          callbacks: {
            label: function (item) {
              return item.label + ": " + credits(item.parsed) + " credits";
            }
          }
        }
      }
    };
  }

  function draw(root) {
    if (typeof window.Chart === "undefined") {
      return;
    }
    root.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
      var source = document.getElementById(canvas.getAttribute("data-chart"));
      if (!source || window.Chart.getChart(canvas)) {
        return;
      }
      var config = JSON.parse(source.textContent);
      new window.Chart(canvas, {
        type: config.type,
        data: { labels: config.labels, datasets: config.datasets },
        options: config.type === "doughnut" ? doughnutOptions() : barOptions(config)
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () { draw(document); });
  document.addEventListener("htmx:afterSettle", function (event) { draw(event.target); });
})();
