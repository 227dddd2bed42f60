// Calls for a published journey's live numbers and the contacts at a node (console session + CSRF token).
export function makeLiveApi(csrf) {
  async function call(method, url, body) {
    const init = { method, headers: { "X-CSRF-Token": csrf }, credentials: "same-origin" };
    if (body !== undefined) { init.body = JSON.stringify(body); init.headers["Content-Type"] = "application/json"; }
    const response = await fetch(url, init);
    let data = null;
    try { data = await response.json(); } catch (e) { data = null; }
    return { status: response.status, ok: response.ok, data };
  }
  const q = (params) => new URLSearchParams(Object.entries(params).filter(([, v]) => v)).toString();
  return {
    numbers: (key, from, to) => call("GET", `/v1/journeys/${key}/live?${q({ from, to })}`),
    waiting: (key, node) => call("GET", `/v1/journeys/${key}/nodes/${encodeURIComponent(node)}/waiting?limit=100`),
    act: (key, contact, action, reason) =>
      call("POST", `/v1/journeys/${key}/runs/${encodeURIComponent(contact)}/${action}`, { reason }),
  };
}

// The selected nodes and notes of a journey text as a YAML fragment (pasting it is the `paste` edit operation).
export async function copyFragment(csrf, text, nodes, notes) {
  const response = await fetch("/v1/journeys/copy", {
    method: "POST", credentials: "same-origin",
    headers: { "X-CSRF-Token": csrf, "Content-Type": "application/json" },
    body: JSON.stringify({ text, nodes, notes }),
  });
  let data = null;
  try { data = await response.json(); } catch (e) { data = null; }
  return { ok: response.ok, data };
}
