// Long-running operations (index builds, trainings, re-embeds) with their progress, polled live.

import { get } from "./api.js";
import { fail } from "./app.js";
import { clear, el, format } from "./ui.js";

const EVERY_MS = 1500;
const COUNTS = { doneCount: "done", totalCount: "in all", failedCount: "failed", vectorCount: "vectors" };

const kindOf = (metadata) => String((metadata || {})["@type"] || "").split(".").pop().replace(/Metadata$/, "") || "—";

function state(operation) {
  if (!operation.done) return "running";
  return operation.error ? `failed: ${operation.error.message || operation.error.code}` : "done";
}

function row(operation) {
  const metadata = operation.metadata || {};
  const progress = Number(metadata.progress ?? (operation.done ? 1 : 0));
  const counts = Object.entries(COUNTS).filter(([k]) => metadata[k] !== undefined)
    .map(([k, label]) => `${metadata[k]} ${label}`).join(" · ");
  return el("tr", { "data-name": operation.name },
    el("td", { text: operation.name }),
    el("td", { text: kindOf(metadata) }),
    el("td", { text: metadata.collection || metadata.task || metadata.model || "" }),
    el("td", { text: metadata.stage || "" }),
    el("td", {}, el("progress", { max: "1", value: String(progress) }), ` ${format(progress * 100, 0)}%`),
    el("td", { text: counts }),
    el("td", { class: operation.error ? "bad" : undefined, text: state(operation) }));
}

export async function renderOperations(main) {
  const updated = el("p", { class: "muted", id: "operations-updated" });
  const body = el("tbody");
  const box = el("div");
  main.append(el("h1", { text: "Operations" }), updated, box,
    el("table", { class: "list", id: "operations" },
      el("thead", {}, el("tr", {}, ["Operation", "Kind", "Of", "Stage", "Progress", "Counts", "State"].map((h) => el("th", { text: h })))),
      body));
  let timer = null;
  let stopped = false;
  const refresh = async () => {
    try {
      const answer = await get("operations", { pageSize: 100 });
      const operations = answer.operations || [];
      clear(body, operations.length ? operations.map(row)
        : el("tr", {}, el("td", { colspan: "7", class: "muted", text: "No operations." })));
      clear(box);
      updated.textContent = `Updated ${new Date().toLocaleTimeString()} · refreshes every ${EVERY_MS / 1000} s`;
    } catch (error) {
      clear(box);
      fail(error, box);
    }
    if (!stopped) timer = setTimeout(refresh, EVERY_MS);
  };
  await refresh();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
