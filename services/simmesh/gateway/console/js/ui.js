// Small DOM helpers shared by the pages: elements, errors, image tiles, metadata.

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (name === "class") node.className = value;
    else if (name === "text") node.textContent = value;
    else node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function clear(node, ...children) {
  node.replaceChildren(...children.flat().filter((c) => c !== undefined && c !== null && c !== false));
  return node;
}

// An API error (google.rpc.Status) or any other failure as a visible message.
export function errorBox(error) {
  const reason = error.reason ? ` (${error.reason})` : "";
  return el("div", { class: "error", role: "alert" }, `${error.message || error}${reason}`);
}

export function showError(container, error) {
  container.prepend(errorBox(error));
}

export function format(value, digits = 3) {
  return typeof value === "number" ? value.toFixed(digits) : String(value ?? "");
}

export function metadataText(metadata) {
  const entries = Object.entries(metadata || {});
  return entries.length ? entries.map(([k, v]) => `${k}: ${JSON.stringify(v)}`).join("\n") : "(no metadata)";
}

// A picture with a caption; `src` may be empty (a placeholder says so).
export function tile({ id, src, caption, title, onclick, selected }) {
  const picture = src
    ? el("img", { src, alt: id, loading: "eager", decoding: "async" })
    : el("div", { class: "noimage", text: "no image" });
  return el(
    "figure",
    { class: selected ? "tile selected" : "tile", "data-id": id, title, tabindex: onclick ? "0" : undefined, onclick },
    picture,
    el("figcaption", {}, caption ?? id),
  );
}

// Resolves once every <img> under `node` has loaded or failed.
export function imagesLoaded(node) {
  const pending = [...node.querySelectorAll("img")].filter((img) => !img.complete);
  return Promise.all(
    pending.map((img) => new Promise((done) => {
      img.addEventListener("load", done, { once: true });
      img.addEventListener("error", done, { once: true });
    })),
  );
}

export function loading(text = "Loading…") {
  return el("p", { class: "muted", text });
}
