// Search in a collection: by a clicked record, a dropped or chosen file, a URL or a text; results with scores.

import { base64Of, embedsText, post, thumbnails } from "./api.js";
import { fail } from "./app.js";
import { clear, el, format, imagesLoaded, metadataText, tile } from "./ui.js";

export class SearchPanel {
  constructor(collection) {
    this.collection = collection;
    this.filter = null;
    this.k = el("input", { id: "k", type: "number", min: "1", max: "1000", value: "12", size: "4" });
    this.grouped = el("input", { id: "group-by-product", type: "checkbox" });
    this.file = el("input", { id: "search-file", type: "file", accept: "image/*", onchange: () => this.fromFile(this.file.files[0]) });
    this.url = el("input", { id: "search-url", type: "url", placeholder: "https://…/photo.jpg", size: "30" });
    this.text = el("input", { id: "search-text", type: "search", placeholder: "a red bicycle", size: "24" });
    this.textForm = el("form", { class: "inline", hidden: true, onsubmit: (e) => this.submit(e, { text: this.text.value }) },
      el("label", { for: "search-text", text: "Text " }), this.text, el("button", { type: "submit" }, "Search"));
    this.results = el("section", { class: "results", id: "results" });
    const drop = el("label", { class: "drop", id: "drop", for: "search-file" }, "Drop an image here, or click to choose a file");
    drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
    drop.addEventListener("dragleave", () => drop.classList.remove("over"));
    drop.addEventListener("drop", (e) => {
      e.preventDefault();
      drop.classList.remove("over");
      if (e.dataTransfer.files.length) this.fromFile(e.dataTransfer.files[0]);
    });
    this.node = el("section", { class: "search" },
      el("div", { class: "controls" },
        el("label", {}, "k ", this.k),
        el("label", {}, this.grouped, " group by product"),
        el("form", { class: "inline", onsubmit: (e) => this.submit(e, { image: { url: this.url.value } }) },
          el("label", { for: "search-url", text: "URL " }), this.url, el("button", { type: "submit" }, "Search")),
        this.textForm),
      drop, this.file, this.results);
  }

  async setup(collection) {
    this.grouped.checked = collection.type === "COLLECTION_TYPE_PRODUCT";
    this.textForm.hidden = !(await embedsText(collection.model));
  }

  submit(event, query) {
    event.preventDefault();
    this.run(query);
  }

  async fromFile(file) {
    if (!file) return;
    const preview = URL.createObjectURL(file);
    await this.run({ image: { base64: await base64Of(file) } }, { id: file.name, src: preview });
  }

  request(query) {
    return {
      queries: [query],
      k: Number(this.k.value) || 10,
      filter: this.filter || undefined,
      groupByProduct: this.grouped.checked,
      includeMetadata: true,
    };
  }

  // Runs one query and shows the hits; `shown` is what the query was (a record, or a file's preview).
  async run(query, shown = {}) {
    clear(this.results, el("p", { class: "muted", text: "Searching…" }));
    try {
      const started = performance.now();
      const answer = await post(`${this.collection}:search`, this.request(query));
      const result = (answer.results || [])[0] || {};
      const hits = result.groups ? result.groups.flatMap((g) => (g.hits || []).map((h) => ({ ...h, productId: g.productId })))
        : result.hits || [];
      const ids = hits.filter((h) => !h.url).map((h) => h.id);
      if (query.recordId) ids.push(query.recordId);
      const pictures = await thumbnails(this.collection, [...new Set(ids)]);
      const elapsed = performance.now() - started;
      clear(this.results,
        el("div", { class: "query" }, el("h2", { text: "Query" }), this.queryTile(query, shown, pictures)),
        el("div", { class: "hits-wrap" },
          el("h2", { text: `${hits.length} nearest (${elapsed.toFixed(0)} ms)` }),
          el("div", { class: "hits", id: "hits" }, hits.map((hit) => tile({
            id: hit.id,
            src: pictures.get(hit.id) || hit.url,
            caption: `${hit.productId ? `${hit.productId} · ` : ""}${hit.id} · ${format(hit.score)}`,
            title: metadataText(hit.metadata),
            onclick: () => this.run({ recordId: hit.id }, hit),
          })))));
      await imagesLoaded(this.results);
    } catch (error) {
      clear(this.results);
      fail(error, this.results);
    }
  }

  queryTile(query, shown, pictures) {
    if (query.text) return el("p", { class: "querytext", text: `“${query.text}”` });
    const src = shown.src || (query.recordId && pictures.get(query.recordId)) || (query.image && query.image.url) || shown.url;
    return el("div", {}, tile({ id: shown.id || query.recordId || "image", src }),
      el("pre", { class: "meta", text: metadataText(shown.metadata) }));
  }
}
