// Calls from a page to a Gerbang service: JSON in and out, the caller's credentials (a bearer
// token or a device key) passed in by the page, and refusals in the house error format
// {"error": {"code", "message": {"id", "en"}, "details"}} kept whole, so the page can say what the
// server said in the officer's language, Indonesian first.

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.error?.code || `http_${status}`);
    this.status = status; // 0: the service could not be reached
    this.code = body?.error?.code || null;
    this.payload = body?.error || null;
    this.details = body?.error?.details || {};
  }
}

/**
 * One call: a body other than FormData goes as JSON; the answer's JSON is returned. A refusal
 * throws ApiError with the server's error, a network failure ApiError with status 0.
 */
export async function request(method, path, { body, headers = {} } = {}) {
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

/**
 * A page's caller: `credentials()` gives the headers of each call (unless the call passes its
 * own), and `onRefused(error, path)` hears every 401 before it is thrown.
 */
export function apiClient(credentials, onRefused = () => {}) {
  return async (method, path, { body, headers } = {}) => {
    try {
      return await request(method, path, { body, headers: headers ?? credentials() });
    } catch (error) {
      if (error.status === 401) onRefused(error, path);
      throw error;
    }
  };
}

/** A protected image (a photo of record) as a blob: URL, or null when it cannot be had. */
export async function blobUrl(path, headers) {
  try {
    const response = await fetch(path, { headers });
    return response.ok ? URL.createObjectURL(await response.blob()) : null;
  } catch {
    return null;
  }
}

/**
 * What a banner says for `error`: the server's own error ({server}), or one of the page's
 * strings ({key, vars}) for a network failure, an error without a body, a string key or a bug.
 */
export function errorState(error) {
  if (error instanceof ApiError) {
    return error.payload ? { server: error.payload }
      : { key: error.status === 0 ? "network" : "server_error", vars: { status: error.status } };
  }
  if (typeof error === "string") return { key: error };
  console.error(error);
  return { key: "server_error", vars: { status: String(error) } };
}

/** The text of an errorState in the page's Language: the server's message or the page's words. */
export function errorText(shown, language) {
  if (shown.server) return language.message(shown.server.message) || shown.server.code;
  return language.t(shown.key, shown.vars);
}
