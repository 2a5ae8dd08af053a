// Counts the steps of the page's list by the layer they happen in, and says so under
// it; once everything has loaded, says how many of the page's images are shown, whether
// its icon font loaded and how many of the files it fetched came with a 200 (also as
// data-assets on the root element). The text depends only on the page and on what the
// server sent.
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

window.addEventListener("load", async () => {
  const out = document.getElementById("assets");
  if (!out) return;
  const images = [...document.images];
  const shown = images.filter((img) => img.complete && img.naturalWidth > 0).length;
  const faces = await document.fonts.load('1em "Site Glyphs"', "\u25A0");
  const font = faces.some((face) => face.status === "loaded") ? "loaded" : "missing";
  // Everything fetched for the page: style sheet, script, images, background, font.
  const fetched = performance.getEntriesByType("resource");
  const ok = fetched.filter((entry) => entry.responseStatus === 200).length;
  out.textContent = `${shown} of ${images.length} images shown; icon font ${font}; ` +
    `${ok} of ${fetched.length} files fetched.`;
  document.documentElement.dataset.assets =
    `images ${shown}/${images.length}, font ${font}, files ${ok}/${fetched.length}`;
});
