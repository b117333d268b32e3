// What the enrolment desk and the gate kiosk share: DOM helpers, the two-language lookup, calls to
// the site service, error banners and camera frames. A plain script loaded before each page's own
// (no build step, no modules). The page script defines `STRINGS` ({id: {...}, en: {...}}), a
// `state` with `lang`, and `applyLanguage()`; the functions here look them up when called.
"use strict";

const $ = (selector, root = document) => root.querySelector(selector);
const $$ = (selector, root = document) => [...root.querySelectorAll(selector)];
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------- language

// An identity's status (the API's `status`), worded alike on both pages; each page's STRINGS
// spreads these in.
const STATUS_WORDS = {
  id: {
    status_active: "Aktif",
    status_released: "Bebas",
    status_transferred_out: "Dipindahkan",
    status_banned: "Dilarang berkunjung",
    status_merged: "Digabung",
    status_erased: "Dihapus",
  },
  en: {
    status_active: "Active",
    status_released: "Released",
    status_transferred_out: "Transferred out",
    status_banned: "Banned",
    status_merged: "Merged",
    status_erased: "Erased",
  },
};

function t(key, vars = {}) {
  const text = STRINGS[state.lang][key] ?? STRINGS.id[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => String(vars[name] ?? ""));
}

// A server message comes in both languages: {id: "...", en: "..."}.
function messageText(message) { return message?.[state.lang] || message?.id || ""; }

// Relabel what both pages have (title, data-i18n elements, the toggle); the page does the rest.
function translatePage() {
  document.documentElement.lang = state.lang;
  document.title = `Gerbang — ${t("title")}`;
  $$("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
  $("#lang-toggle").textContent = t("other_language");
}

// Switch Indonesian <-> English and remember it in `storage` (the desk per session, the kiosk
// per terminal).
function toggleLanguage(storage, storageKey) {
  state.lang = state.lang === "id" ? "en" : "id";
  storage.setItem(storageKey, state.lang);
  applyLanguage();
}

// ---------------------------------------------------------------- talking to the service

class ApiError extends Error {
  constructor(status, body) {
    super(body?.error?.code || `http_${status}`);
    this.status = status;
    this.code = body?.error?.code || null;
    this.payload = body?.error || null;
    this.details = body?.error?.details || {};
  }
}

// One call: a body other than FormData goes as JSON; the answer's JSON is returned. A refusal
// throws ApiError with the server's error, a network failure ApiError with status 0. Each page
// passes its own credentials in `headers`.
async function request(method, path, body, headers = {}) {
  const sent = { ...headers };
  let payload = body;
  if (body !== undefined && !(body instanceof FormData)) {
    sent["Content-Type"] = "application/json";
    payload = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, { method, headers: sent, body: payload });
  } catch {
    throw new ApiError(0, null);
  }
  const data = await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

// What the error banner says for `error`: the server's own message ({server}), or one of ours
// ({key, vars}) for a network failure, an error without a body, a string key or a bug.
function errorState(error) {
  if (error instanceof ApiError) {
    return error.payload ? { server: error.payload }
      : { key: error.status === 0 ? "network" : "server_error", vars: { status: error.status } };
  }
  if (typeof error === "string") return { key: error };
  console.error(error);
  return { key: "server_error", vars: { status: String(error) } };
}

// ---------------------------------------------------------------- camera

// 640x480 is plenty for a face and light on a small PC.
function openCamera() {
  return navigator.mediaDevices.getUserMedia(
    { video: { width: { ideal: 640 }, height: { ideal: 480 } }, audio: false });
}

// The video's current frame as a JPEG blob, drawn through the page's hidden #grab canvas.
function videoFrame(video) {
  const canvas = $("#grab");
  canvas.width = video.videoWidth;
  canvas.height = video.videoHeight;
  canvas.getContext("2d").drawImage(video, 0, 0);
  return new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", 0.92));
}
