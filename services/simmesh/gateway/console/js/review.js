// Reviewing label suggestions with the keyboard: a accept, c change, r reject, arrows move, s save.

import { get, post } from "./api.js";
import { fail } from "./app.js";
import { pictures, projectNav } from "./labeling.js";
import { clear, el, format, imagesLoaded, loading, tile } from "./ui.js";

const BATCH = 12;
const ACTIONS = { accept: "ACTION_ACCEPT", change: "ACTION_CHANGE", reject: "ACTION_REJECT" };

class Review {
  constructor(project, main) {
    this.project = project;
    this.items = [];
    this.decisions = new Map();
    this.current = 0;
    this.list = el("section", { id: "review", class: "review" });
    this.status = el("p", { id: "review-status", class: "muted" });
    this.labelInput = el("input", { id: "change-label", list: "known-labels", placeholder: "label, label…", hidden: true });
    this.known = el("datalist", { id: "known-labels" });
    this.labelInput.addEventListener("keydown", (e) => this.onLabelKey(e));
    this.onKey = (e) => this.key(e);
    main.append(
      el("p", { class: "help" }, "Keys: ", el("kbd", { text: "a" }), " accept · ", el("kbd", { text: "c" }), " change · ",
        el("kbd", { text: "r" }), " reject · ", el("kbd", { text: "←/→" }), " move · ", el("kbd", { text: "s" }), " save"),
      el("div", { class: "controls" },
        el("button", { type: "button", id: "suggest-batch", onclick: () => this.suggest() }, `Suggest labels for ${BATCH} pool images`),
        el("button", { type: "button", id: "save-reviews", class: "primary", onclick: () => this.save() }, "Save reviews (s)"),
        this.labelInput, this.known),
      this.status, this.list);
    document.addEventListener("keydown", this.onKey);
  }

  stop() {
    document.removeEventListener("keydown", this.onKey);
  }

  // The project's SUGGESTED images, with the neighbours that voted (asked again, not saved).
  async load() {
    clear(this.list, loading());
    const [answer, labels] = await Promise.all([
      get(`${this.project.name}/images`, { state: "IMAGE_STATE_SUGGESTED", pageSize: BATCH }),
      get(`${this.project.name}/labels`, { pageSize: 500 }),
    ]);
    clear(this.known, (labels.labels || []).map((l) => el("option", { value: l.label })));
    const images = answer.images || [];
    const votes = images.length
      ? await post(`${this.project.name}:suggestLabels`, { items: images.map((i) => ({ imageId: i.id })), save: false })
      : { suggestions: [] };
    await this.show(images, votes.suggestions || []);
  }

  // Suggests labels for the least certain pool images (or the first ones) and saves them as SUGGESTED.
  async suggest() {
    try {
      const uncertain = await post(`${this.project.name}:listUncertain`, { pageSize: BATCH });
      let ids = (uncertain.images || []).map((i) => i.id);
      if (!ids.length) {
        const pool = await get(`${this.project.name}/images`, { state: "IMAGE_STATE_POOL", pageSize: BATCH });
        ids = (pool.images || []).map((i) => i.id);
      }
      if (!ids.length) {
        this.status.textContent = "The pool is empty.";
        return;
      }
      await post(`${this.project.name}:suggestLabels`, { items: ids.map((id) => ({ imageId: id })), save: true });
      await this.load();
    } catch (error) {
      fail(error, this.list);
    }
  }

  async show(images, suggestions) {
    const byId = new Map(suggestions.map((s) => [s.id, s]));
    const neighbourIds = [...new Set(suggestions.flatMap((s) => (s.neighbors || []).map((n) => n.id)))];
    const neighbours = await Promise.all(neighbourIds.map((id) => get(`${this.project.name}/images/${encodeURIComponent(id)}`).catch(() => ({ id }))));
    const found = await pictures(this.project, [...images, ...neighbours]);
    this.items = images.map((image) => ({ image, suggestion: byId.get(image.id) || {} }));
    this.decisions.clear();
    this.current = 0;
    clear(this.list, this.items.length ? this.items.map((item, i) => this.card(item, i, found))
      : el("p", { class: "muted", text: "No suggestions to review. Suggest a batch from the pool." }));
    this.mark();
    await imagesLoaded(this.list);
  }

  card({ image, suggestion }, i, found) {
    const scores = (suggestion.scores || []).slice(0, 4).map((s) => `${s.label} ${format(s.score, 0)}`).join(" · ");
    return el("article", { class: "card", "data-id": image.id, onclick: () => { this.current = i; this.mark(); } },
      tile({ id: image.id, src: found.get(image.id), caption: image.id }),
      el("div", { class: "suggested" },
        el("p", {}, el("b", { text: "Suggested: " }), el("span", { class: "labels", text: (image.labels || []).join(", ") || "—" })),
        el("p", { class: "muted", text: scores ? `Votes: ${scores}` : "" }),
        el("p", { class: "decision", text: "" })),
      el("div", { class: "voters" }, (suggestion.neighbors || []).map((n) => tile({
        id: n.id, src: found.get(n.id), caption: `${(n.labels || []).join(", ") || "—"}\n${format(n.similarity, 2)}`,
      }))));
  }

  mark() {
    this.list.querySelectorAll(".card").forEach((card, i) => {
      const decision = this.decisions.get(this.items[i].image.id);
      card.classList.toggle("current", i === this.current);
      card.dataset.decision = decision ? decision.action : "";
      card.querySelector(".decision").textContent = decision
        ? `${decision.action}${decision.labels ? `: ${decision.labels.join(", ")}` : ""}` : "";
      if (i === this.current) card.scrollIntoView({ block: "nearest" });
    });
    const counts = [...this.decisions.values()].length;
    this.status.textContent = `${this.items.length ? this.current + 1 : 0} of ${this.items.length} · ${counts} decided`;
  }

  decide(action, labels) {
    const item = this.items[this.current];
    if (!item) return;
    this.decisions.set(item.image.id, labels ? { action, labels } : { action });
    this.current = Math.min(this.current + 1, this.items.length - 1);
    this.mark();
  }

  key(event) {
    if (event.target instanceof HTMLInputElement || event.target instanceof HTMLTextAreaElement) return;
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const moves = { ArrowRight: 1, ArrowDown: 1, ArrowLeft: -1, ArrowUp: -1 };
    if (event.key in moves) {
      this.current = Math.max(0, Math.min(this.items.length - 1, this.current + moves[event.key]));
      this.mark();
    } else if (event.key === "a") this.decide("accept");
    else if (event.key === "r") this.decide("reject");
    else if (event.key === "c" && this.items.length) {
      this.labelInput.hidden = false;
      this.labelInput.value = "";
      this.labelInput.focus();
    } else if (event.key === "s") this.save();
    else return;
    event.preventDefault();
  }

  onLabelKey(event) {
    if (event.key !== "Enter" && event.key !== "Escape") return;
    event.preventDefault();
    const labels = this.labelInput.value.split(",").map((l) => l.trim()).filter(Boolean);
    this.labelInput.hidden = true;
    this.labelInput.blur();
    if (event.key === "Enter" && labels.length) this.decide("change", labels);
  }

  async save() {
    const reviews = [...this.decisions].map(([imageId, d]) => ({ imageId, action: ACTIONS[d.action], labels: d.labels || [] }));
    if (!reviews.length) return;
    try {
      const answer = await post(`${this.project.name}:reviewSuggestions`, { reviews });
      const failed = (answer.errors || []).map((e) => `${e.id}: ${(e.status || {}).message}`);
      await this.load();
      this.status.textContent = `Saved: ${answer.acceptedCount || 0} accepted, ${answer.changedCount || 0} changed, `
        + `${answer.rejectedCount || 0} rejected${failed.length ? `; failed: ${failed.join("; ")}` : ""}`;
      this.status.dataset.saved = String(reviews.length - failed.length);
    } catch (error) {
      fail(error, this.list);
    }
  }
}

export async function renderReview(main, id) {
  const project = await get(`projects/${id}`);
  main.append(el("h1", {}, el("a", { href: "#/projects", text: "Labeling" }), ` / ${project.displayName || id}`),
    projectNav(id, "review"));
  const review = new Review(project, main);
  await review.load().catch((error) => fail(error, review.list));
  return () => review.stop();
}
