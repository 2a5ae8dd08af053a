// Says when the page was served, from the Date header ssdk writes into each response.
document.addEventListener("DOMContentLoaded", async () => {
  const out = document.getElementById("served");
  if (!out) return;
  const reply = await fetch(location.href, { method: "HEAD" });
  const date = reply.headers.get("Date");
  if (date) out.textContent = `Served by ssdk at ${date}.`;
});
