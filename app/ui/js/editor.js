// Labelled examples for a fine-tune job: highlight words with the mouse or the
// keyboard, give them a label, relabel or remove them. Offsets are code points,
// as in the API's span format; a selection snaps to whole words.

import { codePoints, el, Palette } from "./entities.js";

const WORD = /[\p{L}\p{N}\p{M}]+|\S/gu;
export const palette = new Palette();

/** Words of `text` as code-point [start, end) pairs. */
export function words(text) {
  const pointAt = []; // UTF-16 index -> code point index
  let point = 0;
  for (let unit = 0; unit < text.length; unit += 1) {
    pointAt[unit] = point;
    const code = text.charCodeAt(unit);
    if (code < 0xd800 || code > 0xdbff) point += 1; // a high surrogate's pair counts once
  }
  pointAt[text.length] = point;
  return [...text.matchAll(WORD)].map((m) => ({ start: pointAt[m.index], end: pointAt[m.index + m[0].length] }));
}

export class ExampleEditor {
  constructor(list, status, labelsInput) {
    this.list = list;
    this.status = status;
    this.labelsInput = labelsInput;
    this.examples = []; // {text, points, words, spans, card}
    this.cursor = null; // {example, anchor, head}: word indices
    this.pointing = false;
  }

  labels() {
    return [...new Set(this.labelsInput.value.split(",").map((label) => label.trim()).filter(Boolean))];
  }

  add(text, spans = []) {
    const example = { text, points: codePoints(text), words: words(text), spans: [...spans] };
    this.examples.push(example);
    this.list.append(this.card(example));
    this.draw(example);
    return example;
  }

  clear() {
    this.examples = [];
    this.cursor = null;
    this.list.replaceChildren();
  }

  payload() {
    return this.examples.map(({ text, spans }) => ({ text, spans: spans.map(({ start, end, label }) => ({ start, end, label })) }));
  }

  card(example) {
    const index = () => this.examples.indexOf(example);
    const textBox = el("div", { class: "example-text", tabindex: 0, role: "group", "aria-describedby": "editor-help" });
    textBox.addEventListener("keydown", (event) => this.key(example, event));
    // a redraw on focus would replace the nodes a mouse drag is selecting
    textBox.addEventListener("mousedown", () => { this.pointing = true; });
    textBox.addEventListener("mouseup", () => {
      this.pointing = false;
      this.fromMouse(example);
    });
    textBox.addEventListener("focus", () => {
      if (!this.pointing && this.cursor?.example !== example) this.select(example, 0, 0);
    });
    const remove = el("button", { type: "button", class: "small remove-example", text: "Remove example" });
    remove.addEventListener("click", () => {
      this.examples.splice(index(), 1);
      example.card.remove();
      if (this.cursor?.example === example) this.cursor = null;
      this.relabelCards();
    });
    example.card = el("li", { class: "example" }, textBox, el("ul", { class: "span-list" }),
      el("div", { class: "problems example-problems", role: "alert" }), remove);
    example.textBox = textBox;
    this.relabelCards(example);
    return example.card;
  }

  relabelCards(only) {
    for (const [index, example] of this.examples.entries()) {
      if (only && example !== only) continue;
      example.textBox.setAttribute("aria-label", `Example ${index + 1}`);
      example.card.dataset.index = index;
    }
  }

  cursorRange(example) {
    if (!this.cursor || this.cursor.example !== example || !example.words.length) return null;
    const first = Math.min(this.cursor.anchor, this.cursor.head);
    const last = Math.max(this.cursor.anchor, this.cursor.head);
    return { start: example.words[first].start, end: example.words[last].end };
  }

  /** Redraw one example's text (segments at word and span edges) and its span list. */
  draw(example) {
    const length = example.points.length;
    const clamp = (value) => Math.max(0, Math.min(length, value));
    const edges = new Set([0, length]);
    for (const word of example.words) edges.add(word.start).add(word.end);
    for (const span of example.spans) edges.add(clamp(span.start)).add(clamp(span.end));
    const sorted = [...edges].sort((a, b) => a - b);
    const cursor = this.cursorRange(example);
    const children = [];
    for (let i = 0; i + 1 < sorted.length; i += 1) {
      const [from, to] = [sorted[i], sorted[i + 1]];
      const span = example.spans.find((s) => s.start <= from && to <= s.end);
      const inCursor = cursor && cursor.start <= from && to <= cursor.end;
      const classes = ["seg", span && "labelled", inCursor && "cursor"].filter(Boolean).join(" ");
      children.push(el("span", { class: classes, "data-from": from, "data-to": to, colour: span && palette.colour(span.label),
        text: example.points.slice(from, to).join("") }));
      if (span && span.end === to) children.push(el("span", { class: "entity-label", "aria-hidden": "true", text: span.label }));
    }
    example.textBox.replaceChildren(...children);
    this.drawSpans(example);
  }

  drawSpans(example) {
    const labels = this.labels();
    const items = example.spans.map((span) => {
      const quoted = `“${example.points.slice(span.start, span.end).join("")}”`;
      const choices = labels.includes(span.label) ? labels : [span.label, ...labels];
      const select = el("select", { "aria-label": `Label of ${quoted}` },
        ...choices.map((label) => el("option", { value: label, text: label, selected: label === span.label })));
      select.addEventListener("change", () => {
        span.label = select.value;
        this.changed(example, `${quoted} relabelled ${span.label}`);
      });
      const remove = el("button", { type: "button", class: "small", "aria-label": `Remove span ${quoted}`, text: "×" });
      remove.addEventListener("click", () => {
        example.spans.splice(example.spans.indexOf(span), 1);
        this.changed(example, `${quoted} removed`);
      });
      return el("li", { colour: palette.colour(span.label), "data-start": span.start, "data-end": span.end, "data-label": span.label },
        el("span", { text: quoted }), select, remove);
    });
    example.card.querySelector(".span-list").replaceChildren(...items);
  }

  changed(example, message) {
    example.card.querySelector(".example-problems").replaceChildren();
    this.draw(example);
    this.status.textContent = message;
  }

  select(example, anchor, head) {
    const previous = this.cursor?.example;
    this.cursor = { example, anchor, head };
    if (previous && previous !== example) this.draw(previous);
    this.draw(example);
    const range = this.cursorRange(example);
    if (range) this.status.textContent = `Selected “${example.points.slice(range.start, range.end).join("")}”`;
  }

  /** Give the selection `label`, replacing the spans it overlaps. */
  labelSelection(label) {
    const example = this.cursor?.example;
    const range = example && this.cursorRange(example);
    if (!range || !label) return;
    example.spans = example.spans.filter((s) => s.end <= range.start || s.start >= range.end);
    example.spans.push({ ...range, label });
    example.spans.sort((a, b) => a.start - b.start);
    this.changed(example, `“${example.points.slice(range.start, range.end).join("")}” labelled ${label}`);
  }

  removeAtSelection() {
    const example = this.cursor?.example;
    const range = example && this.cursorRange(example);
    if (!range) return;
    const before = example.spans.length;
    example.spans = example.spans.filter((s) => s.end <= range.start || s.start >= range.end);
    this.changed(example, before === example.spans.length ? "No span here" : "Span removed");
  }

  key(example, event) {
    const last = example.words.length - 1;
    const cursor = this.cursor?.example === example ? this.cursor : { anchor: 0, head: 0 };
    const digit = /^[1-9]$/.test(event.key) ? Number(event.key) : null;
    if (event.key === "ArrowRight" || event.key === "ArrowLeft") {
      const step = event.key === "ArrowRight" ? 1 : -1;
      const head = Math.max(0, Math.min(last, cursor.head + step));
      this.select(example, event.shiftKey ? cursor.anchor : head, head);
    } else if (event.key === "Home" || event.key === "End") {
      const head = event.key === "Home" ? 0 : last;
      this.select(example, event.shiftKey ? cursor.anchor : head, head);
    } else if (digit !== null && !event.ctrlKey && !event.metaKey && !event.altKey) {
      this.labelSelection(this.labels()[digit - 1]);
    } else if (event.key === "Delete" || event.key === "Backspace") {
      this.removeAtSelection();
    } else if (event.key === "Escape") {
      this.cursor = null;
      this.draw(example);
      this.status.textContent = "Selection cleared";
    } else {
      return;
    }
    event.preventDefault();
  }

  /** The words a mouse selection (or a click) touches become the selection. */
  fromMouse(example) {
    const selection = getSelection();
    if (!selection.rangeCount || !example.words.length) return;
    const a = pointOf(example, selection.anchorNode, selection.anchorOffset);
    const b = pointOf(example, selection.focusNode, selection.focusOffset);
    if (a === null || b === null) return;
    const [start, end] = a <= b ? [a, b] : [b, a];
    const touched = example.words
      .map((word, index) => ({ word, index }))
      .filter(({ word }) => (start === end ? word.start <= start && start <= word.end : word.end > start && word.start < end));
    if (!touched.length) return;
    selection.removeAllRanges();
    this.select(example, touched[0].index, touched[touched.length - 1].index);
    example.textBox.focus({ preventScroll: true });
  }
}

/** Code-point offset in `example` of a DOM selection point inside its text box. */
function pointOf(example, node, offset) {
  if (!node || !example.textBox.contains(node)) return null;
  if (node.nodeType === Node.TEXT_NODE) {
    const holder = node.parentElement;
    if (!holder.classList.contains("seg")) return Number(holder.previousElementSibling?.dataset.to ?? 0);
    return Number(holder.dataset.from) + codePoints(node.textContent.slice(0, offset)).length;
  }
  const child = node.childNodes[offset];
  if (!child) return example.points.length;
  const seg = child.nodeType === Node.ELEMENT_NODE && child.classList.contains("seg") ? child : child.parentElement?.closest(".seg");
  return seg ? Number(seg.dataset.from) : null;
}
