// The interview dashboard's charts (templates/admin/interviews/dashboard.html). The numbers come
// from the page's json_script block "dashboard-data": {series, labels}, the same series as
// GET /api/v1/interviews/stats?series=week. Chart.js (vendor/chart.umd.min.js) draws them.
(function () {
  "use strict";

  const source = document.getElementById("dashboard-data");
  if (!source || typeof Chart === "undefined") return;
  const { series, labels } = JSON.parse(source.textContent);
  if (!series.weeks.length) return;

  // Okabe–Ito colours: told apart by people with colour-blindness too.
  const PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"];
  const styles = getComputedStyle(document.body);
  Chart.defaults.color = styles.getPropertyValue("--body-fg").trim() || "#333";
  Chart.defaults.borderColor = styles.getPropertyValue("--hairline-color").trim() || "#e8e8e8";
  Chart.defaults.font.family = styles.fontFamily;
  Chart.defaults.maintainAspectRatio = false;
  if (window.matchMedia("(prefers-reduced-motion: reduce)").matches) Chart.defaults.animation = false;

  const dayMonth = new Intl.DateTimeFormat("en", { day: "numeric", month: "short", timeZone: "UTC" });
  const weeks = series.weeks.map((iso) => dayMonth.format(new Date(iso + "T00:00:00Z")));
  const weekTitle = (items) => (items.length ? "Week of " + series.weeks[items[0].dataIndex] : "");

  function draw(id, config) {
    const canvas = document.getElementById(id);
    if (canvas) new Chart(canvas, config);
  }

  function weekly(type, datasets, scales, extra) {
    return {
      type,
      data: { labels: weeks, datasets },
      options: {
        interaction: { mode: "index", intersect: false },
        plugins: { tooltip: { callbacks: { title: weekTitle } } },
        scales,
        ...extra,
      },
    };
  }

  function coloured(dataset, i, line) {
    const colour = PALETTE[i % PALETTE.length];
    return line
      ? { ...dataset, borderColor: colour, backgroundColor: colour, spanGaps: true, tension: 0.2, pointRadius: 3 }
      : { ...dataset, backgroundColor: colour, borderColor: colour };
  }

  function stacked(breakdown, names) {
    const datasets = Object.entries(breakdown).map(([key, data], i) =>
      coloured({ label: names[key] || key, data }, i, false),
    );
    return weekly("bar", datasets, {
      x: { stacked: true },
      y: { stacked: true, beginAtZero: true, ticks: { precision: 0 }, title: { display: true, text: "started" } },
    });
  }

  const count = { beginAtZero: true, ticks: { precision: 0 } };
  const percent = { min: 0, max: 100, ticks: { callback: (v) => v + "%" } };

  draw(
    "chart-volume",
    weekly(
      "bar",
      [
        coloured({ label: "Started", data: series.started }, 0, false),
        coloured({ label: "Completed", data: series.completed }, 2, false),
      ],
      { y: count },
    ),
  );
  draw(
    "chart-rates",
    weekly(
      "line",
      [
        coloured({ label: "Completion rate", data: series.completion_rate }, 2, true),
        coloured({ label: "Abandonment rate", data: series.abandonment_rate }, 3, true),
      ],
      { y: percent },
      {
        plugins: {
          tooltip: { callbacks: { title: weekTitle, label: (c) => c.dataset.label + ": " + c.formattedValue + "%" } },
        },
      },
    ),
  );
  draw(
    "chart-score",
    weekly("line", [coloured({ label: "Average score", data: series.average_score }, 0, true)], {
      y: { min: 0, max: 100, title: { display: true, text: "score (0–100)" } },
    }),
  );
  draw("chart-language", stacked(series.by_language, labels.language));
  draw("chart-level", stacked(series.by_technical_level, labels.technical_level));
  draw("chart-plan", stacked(series.by_plan, labels.plan));

  // Waiting (orange), under way (blue), done (green), needs attention (vermillion).
  const STATE_COLOURS = { unreviewed: PALETTE[1], in_review: PALETTE[0], reviewed: PALETTE[2], flagged: PALETTE[3] };
  const states = Object.keys(series.review_backlog);
  draw("chart-backlog", {
    type: "bar",
    data: {
      labels: states.map((s) => labels.review_state[s] || s),
      datasets: [
        {
          label: "Completed interviews",
          data: states.map((s) => series.review_backlog[s]),
          backgroundColor: states.map((s, i) => STATE_COLOURS[s] || PALETTE[i % PALETTE.length]),
        },
      ],
    },
    options: { indexAxis: "y", plugins: { legend: { display: false } }, scales: { x: count } },
  });
})();
