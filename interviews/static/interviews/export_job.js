// The export job progress page (templates/admin/interviews/export_job.html): polls the job's
// state (GET /api/v1/export-jobs/{id}, the admin's session authenticates it) once a second until
// it is done, failed or expired, and updates the bar, the text and the download link.
"use strict";

(function () {
  const card = document.getElementById("export-job");
  if (!card) return;
  const bar = document.getElementById("export-progress");
  const status = document.getElementById("export-status");
  const download = document.getElementById("export-download");
  const FINAL = ["done", "failed", "expired"];

  function size(bytes) {
    const units = ["bytes", "KB", "MB", "GB"];
    let value = bytes, unit = 0;
    while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit += 1; }
    return (unit ? value.toFixed(1) : value) + " " + units[unit];
  }

  function show(job) {
    const { done, total } = job.progress;
    card.dataset.state = job.state;
    bar.max = Math.max(total, 1);
    bar.value = job.state === "done" ? bar.max : done;
    bar.textContent = Math.round((100 * bar.value) / bar.max) + "%";
    if (job.state === "queued") status.textContent = "Waiting for a worker…";
    else if (job.state === "running") status.textContent = `Writing: ${done} of ${total} interviews`;
    else if (job.state === "done") {
      const until = job.expires_at.slice(0, 16).replace("T", " ");
      status.textContent = `Ready: ${total} interview${total === 1 ? "" : "s"}, ${size(job.file_size)}. Available until ${until} UTC.`;
    } else if (job.state === "failed") status.textContent = "Failed: " + job.error;
    else status.textContent = "Expired: the file has been deleted. Start a new export from the interview list.";
    download.classList.toggle("hidden", job.state !== "done");
  }

  async function poll() {
    try {
      const response = await fetch(card.dataset.statusUrl, { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (response.ok) {
        const job = (await response.json()).data;
        show(job);
        if (FINAL.includes(job.state)) return;
      }
    } catch (error) {
      // Offline for a moment: try again below.
    }
    setTimeout(poll, 1000);
  }

  if (!FINAL.includes(card.dataset.state)) poll();
})();
