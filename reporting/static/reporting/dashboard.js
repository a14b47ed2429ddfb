// Draws the dashboard charts from the JSON the page embeds (#dash-charts); redraws after
// an HTMX swap of the dashboard body (the filters changed) or of the wall's cards (its
// polling). On the wall the charts fill the box the grid gives them (no aspect ratio),
// in the wall's light-on-dark colours.
(function () {
  const charts = [];
  const SWAPPED = ["dash-body", "wall-cards"];

  function draw() {
    const data = document.getElementById("dash-charts");
    if (!data || typeof window.Chart === "undefined") return;
    charts.splice(0).forEach((chart) => chart.destroy());
    const series = JSON.parse(data.textContent);
    if (document.body.classList.contains("wall")) {
      window.Chart.defaults.maintainAspectRatio = false;
      window.Chart.defaults.color = "#cbd5e1";
      window.Chart.defaults.borderColor = "#1f2a44";
    }
    const perChannel = document.getElementById("chart-per-channel");
    if (perChannel) {
      charts.push(new window.Chart(perChannel, {
        type: "bar",
        data: {
          labels: series.per_channel.labels,
          datasets: series.per_channel.series.map((s) => ({ label: s.label, data: s.data })),
        },
        options: { animation: false, responsive: true, scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true } } },
      }));
    }
    const shipTime = document.getElementById("chart-ship-time");
    if (shipTime) {
      charts.push(new window.Chart(shipTime, {
        type: "bar",
        data: {
          labels: series.ship_time.map((b) => b.label),
          datasets: [{ label: shipTime.closest("section").querySelector("h2").textContent, data: series.ship_time.map((b) => b.orders) }],
        },
        options: { animation: false, responsive: true, plugins: { legend: { display: false } }, scales: { y: { beginAtZero: true } } },
      }));
    }
    const slaTrend = document.getElementById("chart-sla-trend");
    if (slaTrend && series.sla_trend) {
      charts.push(new window.Chart(slaTrend, {
        type: "line",
        data: {
          labels: series.sla_trend.labels,
          datasets: [
            { label: slaTrend.dataset.median, data: series.sla_trend.median, spanGaps: true },
            { label: slaTrend.dataset.p90, data: series.sla_trend.p90, spanGaps: true },
          ],
        },
        options: { animation: false, responsive: true, scales: { y: { beginAtZero: true } } },
      }));
    }
    const stalled = document.getElementById("chart-stalled");
    if (stalled && series.stalled) {
      charts.push(new window.Chart(stalled, {
        type: "bar",
        data: {
          labels: series.stalled.labels,
          datasets: [{ label: stalled.closest("section").querySelector("h2").textContent, data: series.stalled.data }],
        },
        options: { animation: false, responsive: true, indexAxis: "y", plugins: { legend: { display: false } }, scales: { x: { beginAtZero: true, ticks: { precision: 0 } } } },
      }));
    }
  }

  // Chart.js's default fill (10 % black) vanishes on the wall's dark background.
  const WALL_COLOURS = ["#60a5fa", "#34d399", "#fbbf24", "#f472b6", "#a78bfa", "#f87171"];

  function paintForWall() {
    if (!document.body.classList.contains("wall")) return;
    charts.forEach((chart) => {
      chart.data.datasets.forEach((dataset, i) => {
        dataset.backgroundColor = WALL_COLOURS[i % WALL_COLOURS.length];
        dataset.borderColor = WALL_COLOURS[i % WALL_COLOURS.length];
      });
      chart.update();
    });
  }

  function drawAll() {
    draw();
    paintForWall();
  }

  document.addEventListener("DOMContentLoaded", drawAll);
  document.addEventListener("htmx:afterSettle", (event) => {
    if (event.target && SWAPPED.includes(event.target.id)) drawAll();
  });
})();
