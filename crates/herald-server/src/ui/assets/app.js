// Herald's web interface: progressive enhancements only; every page works without this file.
"use strict";

// Times are rendered in UTC by the server; show them in the reader's own time zone, with the
// UTC value kept as the tooltip.
function localTimes() {
  for (const el of document.querySelectorAll("time[datetime]")) {
    const at = new Date(el.getAttribute("datetime"));
    if (Number.isNaN(at.getTime())) continue;
    el.title = el.textContent;
    el.textContent = at.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "medium" });
  }
}

document.addEventListener("DOMContentLoaded", () => {
  localTimes();
  const first = document.querySelector("[autofocus]");
  if (first) first.focus();
});
