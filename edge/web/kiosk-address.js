// How a kiosk is set up from its address. The README's form is /gate?gate=main#key=KEY; the
// gate may also come in the fragment (/gate#gate=main&key=KEY). The device key is read only from
// the fragment, which the browser never sends, so it stays out of server and proxy logs.

/**
 * The setup in an address's `search` and `hash`: {gate, key, keyInQuery}. `gate` and `key` are ""
 * when absent; `keyInQuery` says a key was (wrongly) put in the query, where it is not used.
 */
export function setupFromAddress(search, hash) {
  const query = new URLSearchParams(search);
  const fragment = new URLSearchParams(hash.replace(/^#/, ""));
  return {
    gate: (fragment.get("gate") || query.get("gate") || "").trim(),
    key: (fragment.get("key") || "").trim(),
    keyInQuery: query.has("key"),
  };
}

/** The address without any key: the gate stays in the query, the fragment goes. */
export function addressWithoutKey(pathname, search) {
  const query = new URLSearchParams(search);
  query.delete("key");
  const rest = query.toString();
  return rest ? `${pathname}?${rest}` : pathname;
}
