// Draws the dashboard charts from the JSON the page embeds (#dash-charts); redraws after
// an HTMX swap of the dashboard body (the filters changed).
(function () {
  const charts = [];

  function draw() {
    const data = document.getElementById("dash-charts");
    if (!data || typeof window.Chart === "undefined") return;
    charts.splice(0).forEach((chart) => chart.destroy());
    const series = JSON.parse(data.textContent);
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
  }

  document.addEventListener("DOMContentLoaded", draw);
  document.addEventListener("htmx:afterSettle", (event) => {
    if (event.target && event.target.id === "dash-body") draw();
  });
})();
