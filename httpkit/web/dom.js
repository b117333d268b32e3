// DOM helpers every page uses. Each takes the root it searches or the template it copies, so a
// module never reaches for page globals.

/** The first element under `root` matching `selector`, or null. */
export const $ = (selector, root = document) => root.querySelector(selector);

/** Every element under `root` matching `selector`, as an array. */
export const $$ = (selector, root = document) => [...root.querySelectorAll(selector)];

/** A promise that resolves after `ms` milliseconds. */
export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** A fresh copy of a <template>'s first element. */
export function fromTemplate(template) {
  return template.content.firstElementChild.cloneNode(true);
}

/** A new element with its text, class and test id (any may be left out). */
export function element(tag, { text, className, testid } = {}) {
  const made = document.createElement(tag);
  if (text !== undefined) made.textContent = text;
  if (className) made.className = className;
  if (testid) made.dataset.testid = testid;
  return made;
}
