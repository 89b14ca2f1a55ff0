// The Extract tab: zero-shot labels and/or taggers on one text, one request
// per source, merged on screen; the threshold slider refilters what came back
// without asking the service again.

import { api } from "./api.js";
import { el, formatScore, Palette, renderHighlighted, renderLegend, renderTable } from "./entities.js";
import { showProblem } from "./problems.js";

const $ = (id) => document.getElementById(id);
const palette = new Palette();
let shown = null; // {text, entities, raw}

/** "label" or "label: description" per line; a map as soon as one line has a description. */
export function parseLabels(source) {
  const lines = source.split("\n").map((line) => line.trim()).filter(Boolean);
  const pairs = lines.map((line) => {
    const colon = line.indexOf(":");
    return colon < 0 ? [line, null] : [line.slice(0, colon).trim(), line.slice(colon + 1).trim()];
  });
  if (pairs.every(([, description]) => description === null)) return pairs.map(([name]) => name);
  return Object.fromEntries(pairs.map(([name, description]) => [name, description ?? name]));
}

function zeroShotRequest(text) {
  const body = { text, labels: parseLabels($("zs-labels").value) };
  if ($("zs-encoder").value) body.encoder = $("zs-encoder").value;
  const threshold = $("zs-threshold").value.trim();
  if (threshold !== "") body.threshold = Number(threshold);
  if ($("zs-multi").checked) body.multi_label = true;
  return body;
}

function chosenTaggers() {
  return [...document.querySelectorAll("#tagger-choices input[type=checkbox]:checked")].map((box) => {
    const version = document.getElementById(`${box.id}-version`).value;
    return version ? `${box.value}@${version}` : box.value;
  });
}

/** Zero-shot labels in one request (with their decoding threshold), every chosen
 *  tagger in another (each at its own default: all entities of a fine-tuned
 *  tagger, a head's own decoding threshold), so the slider refilters both. */
function requests(text) {
  const bodies = [];
  if ($("use-labels").checked) bodies.push(zeroShotRequest(text));
  const taggers = chosenTaggers();
  if (taggers.length) bodies.push({ taggers, text });
  return bodies;
}

/** A response's answers: one for a single source, `answers` for several taggers. */
function answersOf(response) {
  return response.answers || [response];
}

async function extract(event) {
  event?.preventDefault();
  const text = $("extract-text").value;
  const bodies = requests(text);
  const errors = $("extract-error");
  errors.replaceChildren();
  if (!bodies.length) {
    errors.append(el("p", { text: "Choose zero-shot labels or at least one tagger." }));
    return;
  }
  $("extract-button").disabled = true;
  $("extract-status").textContent = "Extracting…";
  const settled = await Promise.allSettled(bodies.map((body) => api.extract(body)));
  $("extract-button").disabled = false;
  const responses = [];
  settled.forEach((outcome, index) => {
    const source = bodies[index].taggers ? bodies[index].taggers.join(", ") : "zero-shot labels";
    if (outcome.status === "fulfilled") responses.push(outcome.value);
    else showProblem(errors, outcome.reason, source);
  });
  $("extract-status").textContent = responses.length ? "" : "Nothing extracted.";
  if (!responses.length) return;
  const entities = responses.flatMap(answersOf).flatMap((answer) =>
    answer.entities.map((entity) => ({ ...entity, source: answer.tagger || answer.encoder })),
  );
  shown = { text, entities, raw: responses.length === 1 ? responses[0] : responses };
  $("raw-json").textContent = JSON.stringify(shown.raw, null, 2);
  $("result").hidden = false;
  refilter();
  $("result").scrollIntoView({ block: "start" });
}

function refilter() {
  if (!shown) return;
  const minimum = Number($("threshold").value);
  $("threshold-value").textContent = formatScore(minimum);
  const kept = shown.entities.filter((entity) => entity.score >= minimum);
  const crossing = renderHighlighted($("highlighted"), shown.text, kept, palette);
  const note = $("not-inline");
  note.hidden = !crossing.length;
  note.textContent = crossing.length
    ? `${crossing.length} entit${crossing.length === 1 ? "y crosses" : "ies cross"} another's edge: in the table only.`
    : "";
  renderLegend($("legend"), kept, palette);
  renderTable(document.querySelector("#entity-table tbody"), kept);
  $("entity-caption").textContent =
    `Entities: ${kept.length} of ${shown.entities.length} with a score of at least ${formatScore(minimum)}`;
}

async function copyJson() {
  const text = $("raw-json").textContent;
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    const range = document.createRange(); // no clipboard permission: select it for the user
    range.selectNodeContents($("raw-json"));
    getSelection().removeAllRanges();
    getSelection().addRange(range);
    const copied = document.execCommand("copy");
    $("copy-status").textContent = copied ? "Copied." : "Selected: press Ctrl+C to copy.";
    return;
  }
  $("copy-status").textContent = "Copied.";
}

export function showTaggers(taggers) {
  const list = $("tagger-choices");
  const checked = new Set(chosenTaggers().map((ref) => ref.split("@")[0]));
  list.replaceChildren(
    ...taggers.map((tagger, index) => {
      const id = `tagger-choice-${index}`;
      const versions = el("select", { id: `${id}-version`, "aria-label": `Version of ${tagger.name}` },
        el("option", { value: "", text: `latest (${tagger.latest || "none"})` }),
        ...[...tagger.versions].reverse().map((version) => el("option", { value: version, text: `version ${version}` })));
      return el("li", {},
        el("input", { type: "checkbox", id, value: tagger.name, checked: checked.has(tagger.name) }),
        el("label", { for: id, text: tagger.name }),
        versions,
        el("span", { class: "muted", text: tagger.labels.join(", ") + (tagger.encoder ? ` (head over ${tagger.encoder})` : "") }));
    }),
  );
  $("tagger-empty").hidden = taggers.length > 0;
}

export function showEncoders(listing) {
  const select = $("zs-encoder");
  const current = select.value;
  select.replaceChildren(
    el("option", { value: "", text: listing.default ? `default (${listing.default})` : "default (none set)" }),
    ...listing.encoders.flatMap((encoder) => [
      el("option", { value: encoder.name, text: `${encoder.name} (latest: ${encoder.latest})` }),
      ...encoder.versions.map((version) =>
        el("option", { value: `${encoder.name}@${version}`, text: `${encoder.name}@${version}` })),
    ]),
  );
  select.value = [...select.options].some((option) => option.value === current) ? current : "";
}

/** Show a tagger's answer on `text` alone (after its fine-tune job). */
export function tryTagger(ref, text) {
  const [name, version] = ref.split("@");
  $("use-labels").checked = false;
  for (const box of document.querySelectorAll("#tagger-choices input[type=checkbox]")) {
    box.checked = box.value === name;
    if (box.checked) document.getElementById(`${box.id}-version`).value = version || "";
  }
  $("extract-text").value = text;
  return extract();
}

export function initExtract() {
  $("extract-form").addEventListener("submit", extract);
  $("threshold").addEventListener("input", refilter);
  $("copy-json").addEventListener("click", copyJson);
}
