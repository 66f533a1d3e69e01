// Labeling: the projects, a project's labels with counts and its labeled images by label.

import { get, thumbnails } from "./api.js";
import { clear, el, imagesLoaded, loading, metadataText, tile } from "./ui.js";

const RECORD = /^(collections\/[^/]+)\/records\/(.+)$/;

// Pictures of a project's images: id -> src. An image shows its URL when it has an http(s) one, else
// the kept thumbnail of the record its metadata names (`record`: `collections/{c}/records/{id}`),
// else the thumbnail of its record in the project's own collection, when one is kept.
export async function pictures(project, images) {
  const found = new Map();
  const wanted = new Map();
  const want = (collection, recordId, imageId) => {
    if (!wanted.has(collection)) wanted.set(collection, []);
    wanted.get(collection).push([recordId, imageId]);
  };
  for (const image of images) {
    const url = image.url || "";
    const named = String((image.metadata || {}).record || "").match(RECORD);
    if (/^(https?|data):/.test(url)) found.set(image.id, url);
    else if (named) want(named[1], named[2], image.id);
    else if (project.collection) want(project.collection, image.id, image.id);
  }
  await Promise.all([...wanted].map(async ([collection, pairs]) => {
    try {
      const thumbs = await thumbnails(collection, [...new Set(pairs.map(([recordId]) => recordId))]);
      for (const [recordId, imageId] of pairs) if (thumbs.has(recordId)) found.set(imageId, thumbs.get(recordId));
    } catch {
      // A collection the caller cannot read leaves its images without pictures.
    }
  }));
  return found;
}

export const projectId = (name) => String(name || "").replace("projects/", "");

export function projectNav(id, current) {
  const links = [["labels", `#/projects/${id}`, "Labels"], ["review", `#/projects/${id}/review`, "Review"],
    ["evaluate", `#/projects/${id}/evaluate`, "Evaluate"]];
  return el("nav", { class: "tabs" }, links.map(([key, href, text]) =>
    el("a", { href, class: key === current ? "active" : undefined, text })));
}

export async function renderProjects(main) {
  main.append(el("h1", { text: "Labeling projects" }));
  const answer = await get("projects", { pageSize: 200 });
  const projects = answer.projects || [];
  main.append(el("table", { class: "list", id: "projects" },
    el("thead", {}, el("tr", {}, ["Project", "Model", "Labeled", "Pool"].map((h) => el("th", { text: h })))),
    el("tbody", {}, projects.length ? projects.map((project) => el("tr", {},
      el("td", {}, el("a", { href: `#/projects/${projectId(project.name)}`, text: project.displayName || projectId(project.name) })),
      el("td", { text: project.model }),
      el("td", { class: "num", text: project.labeledCount ?? "0" }),
      el("td", { class: "num", text: project.poolCount ?? "0" }),
    )) : el("tr", {}, el("td", { colspan: "4", class: "muted", text: "No projects yet." })))));
}

async function showImages(project, label, gallery) {
  clear(gallery, loading());
  const answer = await get(`${project.name}/images`, { label, pageSize: 60 });
  const images = answer.images || [];
  const found = await pictures(project, images);
  clear(gallery, el("h2", { text: `${label} (${images.length}${answer.nextPageToken ? "+" : ""})` }),
    el("div", { class: "grid" }, images.map((image) => tile({
      id: image.id,
      src: found.get(image.id),
      caption: `${image.id} · ${(image.labels || []).join(", ")}`,
      title: metadataText(image.metadata),
    }))));
  await imagesLoaded(gallery);
}

export async function renderProject(main, id) {
  const project = await get(`projects/${id}`);
  main.append(el("h1", {}, el("a", { href: "#/projects", text: "Labeling" }), ` / ${project.displayName || id}`),
    projectNav(id, "labels"),
    el("div", { class: "facts" },
      el("span", {}, el("b", { text: "Model " }), project.model),
      el("span", {}, el("b", { text: "Labeled " }), project.labeledCount ?? "0"),
      el("span", {}, el("b", { text: "Pool " }), project.poolCount ?? "0")));
  const gallery = el("section", { id: "gallery" });
  const answer = await get(`${project.name}/labels`, { pageSize: 500 });
  const labels = answer.labels || [];
  main.append(el("table", { class: "list", id: "labels" },
    el("thead", {}, el("tr", {}, ["Label", "Labeled", "Suggested"].map((h) => el("th", { text: h })))),
    el("tbody", {}, labels.map((count) => el("tr", {},
      el("td", {}, el("button", { type: "button", class: "link", onclick: () => showImages(project, count.label, gallery) }, count.label)),
      el("td", { class: "num", text: count.labeledCount ?? "0" }),
      el("td", { class: "num", text: count.suggestedCount ?? "0" }))))), gallery);
  if (labels.length) await showImages(project, labels[0].label, gallery);
}
