// The console's shell: a router on location.hash and the API key prompt.

import { key, setKey } from "./api.js";
import { clear, errorBox } from "./ui.js";

const PAGES = [
  [/^#?\/?$/, "collections", () => import("./collections.js").then((m) => m.renderList)],
  [/^#\/collections\/([^/?]+)$/, "collections", () => import("./collections.js").then((m) => m.renderCollection)],
  [/^#\/projects$/, "projects", () => import("./labeling.js").then((m) => m.renderProjects)],
  [/^#\/projects\/([^/?]+)$/, "projects", () => import("./labeling.js").then((m) => m.renderProject)],
  [/^#\/projects\/([^/?]+)\/review$/, "projects", () => import("./review.js").then((m) => m.renderReview)],
  [/^#\/projects\/([^/?]+)\/evaluate$/, "projects", () => import("./evaluate.js").then((m) => m.renderEvaluate)],
  [/^#\/operations$/, "operations", () => import("./operations.js").then((m) => m.renderOperations)],
];

const main = document.getElementById("main");
let cleanup = null;
let generation = 0;

function askForKey(why) {
  const dialog = document.getElementById("key-dialog");
  document.getElementById("key-why").textContent = why || "This mesh asks for a key. It is kept for this browser session only.";
  document.getElementById("key-input").value = key();
  if (!dialog.open) dialog.showModal();
}

// Pages report failures here: a 401/403 opens the key prompt, anything else shows its message.
export function fail(error, container = main) {
  if (error && error.needsKey) askForKey(`${error.message} — enter an API key.`);
  container.prepend(errorBox(error));
}

async function route() {
  const mine = ++generation;
  if (cleanup) cleanup();
  cleanup = null;
  const hash = location.hash || "#/";
  const found = PAGES.find(([pattern]) => pattern.test(hash));
  for (const link of document.querySelectorAll("[data-nav]")) {
    link.classList.toggle("active", Boolean(found) && link.dataset.nav === found[1]);
  }
  clear(main);
  if (!found) {
    main.append(errorBox(new Error(`No page at ${hash}`)));
    return;
  }
  const params = hash.match(found[0]).slice(1).map(decodeURIComponent);
  try {
    const render = await found[2]();
    if (mine !== generation) return;
    cleanup = (await render(main, ...params)) || null;
  } catch (error) {
    if (mine === generation) fail(error);
  }
}

document.getElementById("key-button").addEventListener("click", () => askForKey());
document.getElementById("key-dialog").addEventListener("close", (event) => {
  const dialog = event.target;
  if (dialog.returnValue === "save") setKey(document.getElementById("key-input").value.trim());
  if (dialog.returnValue === "clear") setKey("");
  if (dialog.returnValue) route();
});
window.addEventListener("hashchange", route);
route();
