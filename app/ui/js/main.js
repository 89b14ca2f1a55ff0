// The playground's entry point: tabs, the API key prompt, and the lists every
// tab reads (taggers, encoders, backbones), refreshed after a job publishes.

import { api, hasKey, onUnauthorized, setKey } from "./api.js";
import { drawEncoderTable, drawTaggerTable } from "./catalogue.js";
import { initExtract, showEncoders, showTaggers, tryTagger } from "./extract.js";
import { showProblem } from "./problems.js";
import { initTrain, showBackbones } from "./train.js";

const $ = (id) => document.getElementById(id);

function showPanel(id) {
  for (const tab of document.querySelectorAll("button.tab")) {
    const current = tab.dataset.panel === id;
    if (current) tab.setAttribute("aria-current", "page");
    else tab.removeAttribute("aria-current");
    $(tab.dataset.panel).hidden = !current;
  }
}

function askForKey(message) {
  $("key-box").hidden = false;
  $("key-message").textContent = message;
  $("api-key").focus();
}

async function refresh() {
  const errors = $("extract-error");
  const [taggers, encoders, backbones] = await Promise.allSettled([api.taggers(), api.encoders(), api.backbones()]);
  if (taggers.status === "fulfilled") {
    showTaggers(taggers.value.taggers);
    drawTaggerTable(taggers.value.taggers, (ref) => {
      showPanel("extract-panel");
      tryTagger(ref, $("extract-text").value);
    });
  }
  if (encoders.status === "fulfilled") {
    showEncoders(encoders.value);
    drawEncoderTable(encoders.value);
  }
  if (backbones.status === "fulfilled") showBackbones(backbones.value);
  const failed = [taggers, encoders, backbones].find((outcome) => outcome.status === "rejected");
  if (failed && failed.reason.status !== 401) showProblem(errors, failed.reason, "loading the lists");
  document.body.dataset.ready = "true"; // the lists are in: tests wait for this
}

function init() {
  for (const tab of document.querySelectorAll("button.tab")) {
    tab.addEventListener("click", () => showPanel(tab.dataset.panel));
  }
  onUnauthorized((problem) =>
    askForKey(hasKey() ? `The key was refused (${problem.message}). Enter another.` : "This service asks for an API key. It is kept for this tab only."),
  );
  $("key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    setKey($("api-key").value.trim());
    $("api-key").value = "";
    $("key-box").hidden = true;
    $("extract-error").replaceChildren();
    refresh();
  });
  $("refresh").addEventListener("click", refresh);
  initExtract();
  initTrain(async (ref, text) => {
    await refresh();
    if (text !== null) {
      showPanel("extract-panel");
      await tryTagger(ref, text);
    }
  });
  refresh();
}

init();
