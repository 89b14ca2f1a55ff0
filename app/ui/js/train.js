// The Make-a-tagger tab: examples (typed or from a JSONL file), the fine-tune
// job, its progress and events followed live, and the new tagger tried at once.

import { api } from "./api.js";
import { ExampleEditor, palette } from "./editor.js";
import { el } from "./entities.js";
import { showProblem } from "./problems.js";

const $ = (id) => document.getElementById(id);
const POLL_MS = 1000;
const FINISHED = new Set(["succeeded", "failed", "cancelled"]);
let editor;
let onTagger = () => {};

function drawLabelButtons() {
  const labels = editor.labels();
  $("label-buttons").replaceChildren(
    ...labels.slice(0, 9).map((label, index) => {
      const button = el("button", { type: "button", class: "small label-button", "data-label": label },
        el("span", { class: "swatch", colour: palette.colour(label), "aria-hidden": "true" }),
        ` ${index + 1} ${label}`);
      button.setAttribute("aria-label", `Label the selection ${label} (key ${index + 1})`);
      button.addEventListener("click", () => editor.labelSelection(label));
      return button;
    }),
  );
  editor.examples.forEach((example) => editor.drawSpans(example));
}

function addSentences() {
  const box = $("train-sentences");
  const lines = box.value.split("\n").map((line) => line.trim()).filter(Boolean);
  lines.forEach((line) => editor.add(line));
  box.value = "";
  $("editor-status").textContent = `${lines.length} example${lines.length === 1 ? "" : "s"} added`;
  editor.examples[editor.examples.length - lines.length]?.textBox.focus();
}

/** Lines of the shared span format; a line that is not one is reported, not added. */
async function loadFile() {
  const file = $("train-file").files[0];
  const problems = $("file-problems");
  problems.replaceChildren();
  if (!file) return;
  const lines = (await file.text()).split("\n");
  const found = [];
  let added = 0;
  const labels = editor.labels();
  lines.forEach((line, index) => {
    if (!line.trim()) return;
    try {
      const record = JSON.parse(line);
      if (typeof record?.text !== "string") throw new Error("no \"text\" string");
      const spans = Array.isArray(record.spans) ? record.spans : [];
      for (const span of spans) if (!labels.includes(span.label)) labels.push(String(span.label));
      editor.add(record.text, spans.map(({ start, end, label }) => ({ start, end, label: String(label) })));
      added += 1;
    } catch (error) {
      found.push(`line ${index + 1}: ${error.message}`);
    }
  });
  $("train-labels").value = labels.join(", ");
  drawLabelButtons();
  if (found.length) problems.append(el("p", { text: `${found.length} line(s) skipped:` }), el("ul", {}, ...found.map((text) => el("li", { text }))));
  $("editor-status").textContent = `${added} example(s) loaded from ${file.name}`;
}

/** Which example a problem names: "examples[3].spans[0]" or ["body", "examples", 3, ...]. */
function exampleIndex(location) {
  const path = Array.isArray(location) ? location.join(".") : String(location ?? "");
  const match = /(?:^|\.)examples(?:\[|\.)(\d+)/.exec(path);
  return match ? Number(match[1]) : null;
}

function showJobProblems(problem) {
  const general = $("job-errors");
  const details = Array.isArray(problem.details) ? problem.details : [];
  const placed = new Map();
  for (const detail of details) {
    const index = exampleIndex(detail?.location);
    if (index === null || !editor.examples[index]) continue;
    if (!placed.has(index)) placed.set(index, []);
    placed.get(index).push(detail);
  }
  for (const [index, named] of placed) {
    const box = editor.examples[index].card.querySelector(".example-problems");
    showProblem(box, { message: `${named.length} problem(s) in this example`, code: problem.code, details: named });
  }
  const rest = details.filter((detail) => !placed.has(exampleIndex(detail?.location)));
  showProblem(general, { ...problem, message: problem.message, code: problem.code, details: rest });
}

function jobBody() {
  const body = { tagger: $("job-tagger").value.trim(), examples: editor.payload() };
  if ($("job-mode").value) body.mode = $("job-mode").value;
  if ($("job-backbone").value && body.mode !== "head") body.backbone = $("job-backbone").value;
  const epochs = $("job-epochs").value.trim();
  if (epochs !== "") body.hyperparameters = { epochs: Number(epochs) };
  return body;
}

async function submitJob(event) {
  event.preventDefault();
  $("job-errors").replaceChildren();
  document.querySelectorAll(".example-problems").forEach((box) => box.replaceChildren());
  $("job-submit").disabled = true;
  try {
    const job = await api.createJob(jobBody());
    follow(job);
  } catch (problem) {
    showJobProblems(problem);
    $("job-submit").disabled = false;
  }
}

function drawJob(job) {
  $("job").hidden = false;
  $("job-id").textContent = `${job.id} → ${job.tagger}`;
  $("job-state").textContent = job.state === "running" ? `running: ${job.stage}` : job.state;
  $("job-state").dataset.state = job.state;
  $("job-progress").value = job.progress;
}

async function follow(job) {
  const events = $("job-events");
  events.replaceChildren();
  $("job-try").hidden = true;
  drawJob(job);
  let after = null;
  while (true) {
    try {
      for (const event of (await api.events(job.id, after)).data) {
        after = event.id;
        const time = new Date(event.created_at).toLocaleTimeString();
        events.append(el("li", { class: `event ${event.level}`, text: `${time} ${event.message}` }));
        events.scrollTop = events.scrollHeight;
      }
      job = await api.job(job.id);
      drawJob(job);
    } catch (problem) {
      showProblem($("job-errors"), problem, "following the job");
    }
    if (FINISHED.has(job.state)) break;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
  $("job-submit").disabled = false;
  if (job.state === "succeeded") {
    $("job-try").hidden = false;
    $("job-try").textContent = `Try ${job.result}`;
    $("job-try").onclick = () => onTagger(job.result, editor.examples[0]?.text ?? "");
    await onTagger(job.result, null);
  } else if (job.error) {
    showProblem($("job-errors"), job.error, "the job");
  }
}

export function showBackbones(listing) {
  const select = $("job-backbone");
  select.replaceChildren(...listing.backbones.map((name) => el("option", { value: name === "default" ? "" : name, text: name })));
}

/** `tagger(ref, text)` is called when a job succeeds: with text null to refresh
 *  the lists, with an example's text when the user asks to try it. */
export function initTrain(tagger) {
  onTagger = tagger;
  editor = new ExampleEditor($("examples"), $("editor-status"), $("train-labels"));
  $("add-sentences").addEventListener("click", addSentences);
  $("train-file").addEventListener("change", loadFile);
  $("train-labels").addEventListener("input", drawLabelButtons);
  $("job-form").addEventListener("submit", submitJob);
  drawLabelButtons();
  return editor;
}
