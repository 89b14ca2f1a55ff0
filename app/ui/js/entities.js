// Entities on screen: colours per label, text split at Unicode code points (the
// API's offsets), entities nested inline, the legend and the table. Everything
// that comes from a user or the API is put in the page as text, never as HTML.

// Light backgrounds: dark text on each keeps a contrast above 7:1.
const PALETTE = [
  "#a5d8ff", "#ffd8a8", "#b2f2bb", "#fcc2d7", "#d0bfff", "#ffec99",
  "#99e9f2", "#c0eb75", "#ffc9c9", "#eebefa", "#96f2d7", "#dee2e6",
];

export class Palette {
  constructor() {
    this.colours = new Map();
  }

  colour(label) {
    if (!this.colours.has(label)) {
      const index = this.colours.size;
      const colour = index < PALETTE.length ? PALETTE[index] : `hsl(${(index * 47) % 360} 80% 86%)`;
      this.colours.set(label, colour);
    }
    return this.colours.get(label);
  }
}

export function el(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "colour") element.style.setProperty("--entity-color", value);
    else if (name === "text") element.textContent = value;
    else element.setAttribute(name, value === true ? "" : String(value));
  }
  element.append(...children.filter((child) => child !== null && child !== undefined));
  return element;
}

/** A text's code points: `points.slice(a, b).join("")` is the API's text[a:b]. */
export function codePoints(text) {
  return Array.from(text);
}

export function formatScore(score) {
  return Number(score).toFixed(2);
}

/** Nest each entity inside the one that contains it (identical spans too);
 *  an entity that crosses another's edge cannot nest, and is returned apart. */
export function layout(entities) {
  const ordered = [...entities].sort((a, b) => a.start - b.start || b.end - a.end);
  const roots = [];
  const crossing = [];
  const open = [];
  for (const entity of ordered) {
    while (open.length && open[open.length - 1].entity.end <= entity.start) open.pop();
    const parent = open[open.length - 1];
    if (parent && entity.end > parent.entity.end) {
      crossing.push(entity);
      continue;
    }
    const node = { entity, children: [] };
    (parent ? parent.children : roots).push(node);
    open.push(node);
  }
  return { roots, crossing };
}

function describe(entity) {
  const from = entity.source ? ` · ${entity.source}` : "";
  return `${entity.label} ${formatScore(entity.score)}${from}`;
}

function appendRange(parent, points, from, to, nodes, palette) {
  let at = from;
  for (const { entity, children } of nodes) {
    if (entity.start > at) parent.append(points.slice(at, entity.start).join(""));
    const mark = el("mark", {
      class: "entity",
      colour: palette.colour(entity.label),
      title: describe(entity),
      tabindex: 0,
      "aria-label": `${points.slice(entity.start, entity.end).join("")}: ${describe(entity)}`,
      "data-start": entity.start,
      "data-end": entity.end,
      "data-label": entity.label,
      "data-score": entity.score,
      "data-source": entity.source,
    });
    appendRange(mark, points, entity.start, entity.end, children, palette);
    mark.append(el("span", { class: "entity-label", "aria-hidden": "true", text: entity.label }));
    parent.append(mark);
    at = entity.end;
  }
  if (to > at) parent.append(points.slice(at, to).join(""));
}

/** Fill `container` with the text and its entities highlighted; returns the
 *  entities that could not be shown inline (they cross another's edge). */
export function renderHighlighted(container, text, entities, palette) {
  const points = codePoints(text);
  const { roots, crossing } = layout(entities);
  container.replaceChildren();
  appendRange(container, points, 0, points.length, roots, palette);
  return crossing;
}

export function renderLegend(list, entities, palette) {
  const counts = new Map();
  for (const entity of entities) counts.set(entity.label, (counts.get(entity.label) || 0) + 1);
  list.replaceChildren(
    ...[...counts].map(([label, count]) =>
      el("li", {}, el("span", { class: "swatch", colour: palette.colour(label), "aria-hidden": "true" }),
        el("span", { class: "legend-label", text: label }), el("span", { class: "muted", text: `(${count})` })),
    ),
  );
}

export function renderTable(body, entities) {
  body.replaceChildren(
    ...entities.map((entity) =>
      el("tr", {},
        el("td", { text: entity.text }),
        el("td", { text: entity.label }),
        el("td", { class: "number", text: formatScore(entity.score) }),
        el("td", { class: "number", text: entity.start }),
        el("td", { class: "number", text: entity.end }),
        el("td", { text: entity.source || "" })),
    ),
  );
}
