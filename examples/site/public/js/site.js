// Counts the steps of the page's list by the layer they happen in, and says so under
// it. The result depends only on the page, so every load shows the same text.
document.addEventListener("DOMContentLoaded", () => {
  const steps = document.querySelectorAll("#steps li");
  const out = document.getElementById("summary");
  if (!out) return;
  const layers = new Map();
  for (const step of steps) {
    const layer = step.dataset.layer || "other";
    layers.set(layer, (layers.get(layer) || 0) + 1);
  }
  const parts = [...layers].map(([layer, n]) => `${layer}: ${n}`);
  out.textContent = `${steps.length} steps (${parts.join(", ")}).`;
  out.classList.replace("pending", "ran");
});
