// Collections: the list with type, model, counts and index state; a collection's paged image grid.

import { get, thumbnails } from "./api.js";
import { fail } from "./app.js";
import { SearchPanel } from "./search.js";
import { clear, el, imagesLoaded, loading, metadataText, tile } from "./ui.js";

export const PAGE_SIZE = 60;

const short = (value, prefix) => String(value || "").replace(prefix, "");

export async function renderList(main) {
  main.append(el("h1", { text: "Collections" }));
  const body = el("tbody");
  main.append(
    el("table", { class: "list", id: "collections" },
      el("thead", {}, el("tr", {}, ["Collection", "Type", "Model", "Records", "Index"].map((h) => el("th", { text: h })))),
      body),
  );
  const answer = await get("collections", { pageSize: 200 });
  const collections = answer.collections || [];
  if (!collections.length) body.append(el("tr", {}, el("td", { colspan: "5", class: "muted", text: "No collections yet." })));
  await Promise.all(collections.map(async (collection) => {
    const id = short(collection.name, "collections/");
    const records = el("td", { class: "num", text: collection.recordCount ?? "0" });
    const index = el("td", { text: short(collection.indexState, "INDEX_STATE_") });
    body.append(el("tr", {},
      el("td", {}, el("a", { href: `#/collections/${encodeURIComponent(id)}`, text: id })),
      el("td", { text: short(collection.type, "COLLECTION_TYPE_") || "—" }),
      el("td", { text: collection.model || "vectors only" }),
      records, index));
    try {
      const stats = await get(`${collection.name}/stats`);
      records.textContent = stats.recordCount ?? "0";
      index.textContent = short(stats.indexState, "INDEX_STATE_");
    } catch (error) {
      index.textContent = error.message;
    }
  }));
}

function parseFilter(text) {
  if (!text.trim()) return null;
  const value = JSON.parse(text);
  if (typeof value !== "object" || Array.isArray(value)) throw new Error("The filter must be a JSON object");
  return value;
}

class Grid {
  constructor(collection, onPick) {
    this.collection = collection;
    this.onPick = onPick;
    this.filter = null;
    this.tokens = [""];
    this.node = el("section", { class: "grid", id: "grid" });
    this.pager = el("div", { class: "pager" });
  }

  async load(page = 0) {
    this.page = page;
    const token = this.tokens[page];
    const answer = await get(`${this.collection}/records`, { pageSize: PAGE_SIZE, pageToken: token, filter: this.filter });
    const records = answer.records || [];
    this.tokens[page + 1] = answer.nextPageToken || "";
    const pictures = await thumbnails(this.collection, records.map((r) => r.id));
    clear(this.node, records.length ? records.map((record) => tile({
      id: record.id,
      src: pictures.get(record.id) || record.url,
      caption: record.id,
      title: metadataText(record.metadata),
      onclick: () => this.onPick(record),
    })) : el("p", { class: "muted", text: "No records match." }));
    this.node.dataset.count = String(records.length);
    this.renderPager();
    await imagesLoaded(this.node);
  }

  renderPager() {
    clear(this.pager,
      el("button", { type: "button", id: "previous-page", disabled: this.page === 0, onclick: () => this.load(this.page - 1) }, "← Previous"),
      el("span", { class: "muted", text: `Page ${this.page + 1}` }),
      el("button", { type: "button", id: "next-page", disabled: !this.tokens[this.page + 1], onclick: () => this.load(this.page + 1) }, "Next →"));
  }
}

function header(collection) {
  const facts = [
    ["Type", short(collection.type, "COLLECTION_TYPE_") || "—"],
    ["Model", collection.model || "vectors only"],
    ["Records", collection.recordCount ?? "0"],
    ["Index", short(collection.indexState, "INDEX_STATE_")],
    ["Images kept", short(collection.imageKeeping, "IMAGE_KEEPING_") || "SENT"],
  ];
  return el("div", { class: "facts" }, facts.map(([k, v]) => el("span", {}, el("b", { text: `${k} ` }), v)));
}

export async function renderCollection(main, id) {
  const name = `collections/${id}`;
  const started = get(name);
  main.append(el("h1", {}, el("a", { href: "#/", text: "Collections" }), ` / ${id}`));
  const status = loading();
  main.append(status);
  const search = new SearchPanel(name);
  const grid = new Grid(name, (record) => search.run({ recordId: record.id }, record));
  const filterBox = el("textarea", { id: "filter", rows: "2", placeholder: '{"label": {"$in": ["cat", "dog"]}}' });
  const apply = async () => {
    try {
      grid.filter = parseFilter(filterBox.value);
      search.filter = grid.filter;
      grid.tokens = [""];
      await grid.load(0);
    } catch (error) {
      fail(error, grid.node);
    }
  };
  const filterForm = el("form", { class: "filter", onsubmit: (e) => { e.preventDefault(); apply(); } },
    el("label", { for: "filter", text: "Filter (JSON, as in SearchRequest.filter)" }), filterBox,
    el("button", { type: "submit", id: "apply-filter" }, "Apply filter"));
  const firstPage = grid.load(0);
  const collection = await started;
  status.replaceWith(header(collection));
  main.append(filterForm, search.node, grid.node, grid.pager);
  search.setup(collection).catch((error) => fail(error, search.node));
  await firstPage;
  performance.mark("first-page-complete");
  window.simmeshFirstPageMs = performance.now();
}
