// The Taggers tab: what the service has (taggers with their versions and
// labels, encoders with their licences), read from the API as it is.

import { el } from "./entities.js";

const $ = (id) => document.getElementById(id);

export function drawTaggerTable(taggers, use) {
  $("tagger-table").querySelector("tbody").replaceChildren(
    ...taggers.map((tagger) => {
      const button = el("button", { type: "button", class: "small", text: "Use", "aria-label": `Use ${tagger.name}` });
      button.addEventListener("click", () => use(tagger.latest || tagger.name));
      return el("tr", {},
        el("td", { text: tagger.name }),
        el("td", { text: tagger.latest || "" }),
        el("td", { text: tagger.versions.join(", ") }),
        el("td", { text: tagger.labels.join(", ") }),
        el("td", { text: tagger.encoder ? `head over ${tagger.encoder}` : "fine-tuned encoder" }),
        el("td", {}, button));
    }),
  );
}

export function drawEncoderTable(listing) {
  $("encoder-table").querySelector("tbody").replaceChildren(
    ...listing.encoders.map((encoder) =>
      el("tr", {},
        el("td", { text: encoder.name }),
        el("td", { text: encoder.latest }),
        el("td", { text: listing.default?.startsWith(`${encoder.name}@`) ? `yes (${listing.default})` : "" }),
        el("td", { text: encoder.non_commercial ? "non-commercial" : "commercial use allowed" }))),
  );
}
