// Calls to the builder's API with the console session (cookie) and its CSRF token.
export function makeApi(csrf) {
  async function call(method, url, body, headers = {}) {
    const init = { method, headers: { "X-CSRF-Token": csrf, ...headers }, credentials: "same-origin" };
    if (body !== undefined) {
      if (typeof body === "string") { init.body = body; init.headers["Content-Type"] = "application/yaml"; }
      else { init.body = JSON.stringify(body); init.headers["Content-Type"] = "application/json"; }
    }
    const response = await fetch(url, init);
    let data = null;
    try { data = await response.json(); } catch (e) { data = null; }
    return { status: response.status, ok: response.ok, data };
  }
  return {
    load: (key) => call("GET", `/v1/journeys/${key}/definition`),
    save: (key, text, token) => call("PUT", `/v1/journeys/${key}/definition`, text, token ? { "If-Match": `"${token}"` } : {}),
    edit: (text, ops) => call("POST", "/v1/journeys/edit", { text, ops }),
    lint: (text) => call("POST", "/v1/journeys/lint", { text }),
    diff: (key) => call("GET", `/v1/journeys/${key}/diff`),
    publish: (text) => call("POST", "/v1/journeys", text),
    versions: (key) => call("GET", `/v1/journeys/${key}/versions`),
    restore: (key, version, token) => call("POST", `/v1/journeys/${key}/versions/${version}/restore`, undefined,
      token ? { "If-Match": `"${token}"` } : {}),
    scenarioRun: (key, scenario, definition) => call("POST", `/v1/journeys/${key}/scenario-run`, { scenario, definition }),
    dryRun: (key, contact, definition, reactions) => call("POST", `/v1/journeys/${key}/dry-run`, { contact, definition, reactions }),
    impact: (key, definition) => call("POST", `/v1/journeys/${key}/impact`, { definition }),
  };
}
