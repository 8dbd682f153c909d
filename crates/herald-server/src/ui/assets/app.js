// Herald's web interface: progressive enhancements only; every page works without this file.
"use strict";

// Times are rendered in UTC by the server; show them in the reader's own time zone, with the
// UTC value kept as the tooltip.
function localTimes(root) {
  for (const el of root.querySelectorAll("time[datetime]")) {
    const at = new Date(el.getAttribute("datetime"));
    if (Number.isNaN(at.getTime())) continue;
    el.title = el.textContent;
    el.textContent = at.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "medium" });
  }
}

// A select with data-toggles="name" shows only the [data-group=name] blocks whose data-when is
// its value (without this script, every block shows and the server ignores the unused ones).
function toggles() {
  for (const select of document.querySelectorAll("select[data-toggles]")) {
    const group = select.dataset.toggles;
    const apply = () => {
      for (const block of document.querySelectorAll(`[data-group="${group}"]`)) {
        block.hidden = block.dataset.when !== select.value;
      }
    };
    select.addEventListener("change", apply);
    apply();
  }
}

// Forms with data-confirm ask first.
function confirms() {
  for (const form of document.querySelectorAll("form[data-confirm]")) {
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  }
}

// A delivery log with data-live follows the server's stream of its first page: each message is
// the rendered rows, put in place as they come; rows not seen before flash once.
function liveLogs() {
  for (const log of document.querySelectorAll("[data-live]")) {
    const body = log.querySelector("[data-rows]");
    const table = log.querySelector("table");
    const empty = log.querySelector("[data-empty]");
    const note = log.querySelector(".live-note");
    const source = new EventSource(log.dataset.live);
    source.addEventListener("rows", (message) => {
      const seen = new Set([...body.querySelectorAll("tr[data-delivery]")].map((r) => r.dataset.delivery));
      const fresh = new DOMParser().parseFromString(`<table><tbody>${message.data}</tbody></table>`, "text/html");
      const rows = [...fresh.querySelectorAll("tbody > tr")];
      body.replaceChildren(...rows);
      for (const row of rows) if (!seen.has(row.dataset.delivery)) row.classList.add("fresh");
      table.hidden = rows.length === 0;
      empty.hidden = rows.length > 0;
      localTimes(body);
      if (note) note.textContent = `Updates live; last change ${new Date().toLocaleTimeString()}.`;
    });
    source.addEventListener("error", () => {
      if (note) note.textContent = "Live updates paused; reconnecting…";
    });
  }
}

// Pages still waiting for an attempt reload themselves (data-refresh: seconds).
function refreshes() {
  const el = document.querySelector("[data-refresh]");
  if (el) setTimeout(() => window.location.reload(), Number(el.dataset.refresh) * 1000);
}

document.addEventListener("DOMContentLoaded", () => {
  localTimes(document);
  toggles();
  confirms();
  liveLogs();
  refreshes();
  const first = document.querySelector("[autofocus]");
  if (first) first.focus();
});
