// The service's error envelope on the page: its message and every problem its
// details name, as text.

import { el } from "./entities.js";

function detailLine(detail) {
  if (typeof detail !== "object" || detail === null) return String(detail);
  const where = Array.isArray(detail.location) ? detail.location.join(".") : detail.location;
  const label = detail.label !== undefined ? `label ${JSON.stringify(detail.label)}: ` : "";
  const prefix = where ? `${where}: ` : "";
  return `${prefix}${label}${detail.problem ?? JSON.stringify(detail)}`;
}

/** Append `problem` (an ApiProblem or an Error) to `box`. */
export function showProblem(box, problem, context) {
  const head = `${context ? `${context}: ` : ""}${problem.message}${problem.code ? ` (${problem.code})` : ""}`;
  const entry = el("div", { class: "problem", "data-code": problem.code }, el("p", { text: head }));
  if (Array.isArray(problem.details) && problem.details.length) {
    entry.append(el("ul", {}, ...problem.details.map((detail) => el("li", { text: detailLine(detail) }))));
  }
  box.append(entry);
}
