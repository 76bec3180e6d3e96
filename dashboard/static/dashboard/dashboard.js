/* Draws the dashboard's charts from the JSON the page carries; Chart.js is served from our own static files. */
(function () {
  "use strict";
  var source = document.getElementById("dashboard-charts");
  if (!source || typeof Chart === "undefined") { return; }
  var charts = JSON.parse(source.textContent);
  var palette = ["#0b6e4f", "#d97706", "#2563eb", "#a61b1b"];
  var suffix = { percent: "%", hours: " h", minutes: " min" };
  Chart.defaults.animation = false;
  Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
  charts.forEach(function (chart) {
    var panel = document.querySelector('[data-chart="' + chart.code + '"]');
    if (!panel) { return; }
    var canvas = panel.querySelector("canvas");
    var unit = suffix[chart.unit] || "";
    var datasets = chart.series.map(function (series, index) {
      var colour = palette[index % palette.length];
      return {
        label: series.label,
        data: series.points.map(function (point) { return point.value; }),
        borderColor: colour,
        backgroundColor: chart.kind === "bar" ? colour : colour + "33",
        spanGaps: true,
        tension: 0.2
      };
    });
    new Chart(canvas, {
      type: chart.kind,
      data: { labels: chart.months, datasets: datasets },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        plugins: {
          legend: { position: "bottom" },
          tooltip: {
            callbacks: {
              label: function (context) {
                var value = context.parsed.y;
                return context.dataset.label + ": " + (value === null ? "–" : Math.round(value * 100) / 100 + unit);
              }
            }
          }
        },
        scales: {
          y: {
            beginAtZero: true,
            suggestedMax: chart.unit === "percent" ? 100 : (chart.unit === "score" ? 5 : undefined),
            ticks: { callback: function (value) { return value + unit; } }
          }
        }
      }
    });
    panel.setAttribute("data-drawn", "true");
  });
  document.body.setAttribute("data-charts-ready", String(charts.length));
})();
