// el("tag.class#id", {attr: value, onclick: fn}, ...children): a DOM element; no innerHTML anywhere.
export function el(spec, attrs = {}, ...children) {
  const [, tag, rest] = spec.match(/^([a-z0-9]+)(.*)$/i);
  const node = document.createElement(tag);
  for (const part of rest.match(/[.#][^.#]+/g) || []) {
    if (part[0] === ".") node.classList.add(part.slice(1));
    else node.id = part.slice(1);
  }
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (name === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(name, value === true ? "" : value);
  }
  append(node, children);
  return node;
}

export function append(node, children) {
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

// Replace node's children; like append, skips null/false and flattens arrays.
export function fill(node, ...children) {
  node.replaceChildren();
  return append(node, children);
}

export function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  append(node, children);
  return node;
}

export const json = (value) => (value === undefined || value === null ? "—" : JSON.stringify(value, null, 2));

// One formatter for every timestamp (toLocaleString builds a new one per call: slow at 500 rows).
const stamp = new Intl.DateTimeFormat(undefined, { dateStyle: "short", timeStyle: "medium", hour12: false });

export function when(iso) {
  return iso ? stamp.format(new Date(iso)) : "—";
}

export function seconds(from, to) {
  if (!from || !to) return "—";
  return `${((new Date(to) - new Date(from)) / 1000).toFixed(2)} s`;
}
