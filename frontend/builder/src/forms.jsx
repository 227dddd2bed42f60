// Keyboard-first forms: add a node, connect two, edit the selected node's fields (generated from the JSON
// Schema of its kind) and the journey's settings. Every change is a graph operation sent to the server.
import React, { useState } from "react";
import { edgeNames } from "./graph.js";

const EDGE_FIELDS = new Set(["kind", "next", "on_event", "on_timeout", "else"]);

export function parseValue(raw) {
  // What a person types: JSON when it looks like JSON ({…}, […], numbers, true/false), otherwise text.
  const text = raw.trim();
  if (text === "") return null;
  if (/^[[{]/.test(text) || /^-?\d+(\.\d+)?$/.test(text) || text === "true" || text === "false") {
    try { return JSON.parse(text); } catch (e) { return text; }
  }
  return text;
}

export function showValue(value) {
  if (value === undefined || value === null) return "";
  return typeof value === "string" ? value : JSON.stringify(value);
}

export function AddNode({ kinds, t, onAdd }) {
  const [kind, setKind] = useState(kinds[0]);
  const [id, setId] = useState("");
  return (
    <form className="tf-form" aria-labelledby="tf-add-h" onSubmit={(e) => { e.preventDefault(); onAdd(kind, id); setId(""); }}>
      <h3 id="tf-add-h">{t("add_node")}</h3>
      <label htmlFor="tf-add-kind">{t("kind")}</label>
      <select id="tf-add-kind" value={kind} onChange={(e) => setKind(e.target.value)}>
        {kinds.map((k) => <option key={k} value={k}>{t(`kind.${k}`)} ({k})</option>)}
      </select>
      <label htmlFor="tf-add-id">{t("node_id")}</label>
      <input id="tf-add-id" value={id} onChange={(e) => setId(e.target.value)} required pattern="[A-Za-z][A-Za-z0-9_\-]*" />
      <button type="submit">{t("add")}</button>
    </form>
  );
}

export function Connect({ graph, t, onConnect }) {
  const ids = graph.nodes.map((n) => n.id);
  const [from, setFrom] = useState("");
  const [edge, setEdge] = useState("");
  const [to, setTo] = useState("");
  const source = graph.nodes.find((n) => n.id === (from || ids[0]));
  const ways = source ? edgeNames(source) : [];
  return (
    <form className="tf-form" aria-labelledby="tf-conn-h"
      onSubmit={(e) => { e.preventDefault(); onConnect(from || ids[0], edge || ways[0], to || ids[0]); }}>
      <h3 id="tf-conn-h">{t("connect")}</h3>
      <label htmlFor="tf-conn-from">{t("from")}</label>
      <select id="tf-conn-from" value={from} onChange={(e) => { setFrom(e.target.value); setEdge(""); }}>
        {ids.map((i) => <option key={i} value={i}>{i}</option>)}
      </select>
      <label htmlFor="tf-conn-edge">{t("edge")}</label>
      <select id="tf-conn-edge" value={edge} onChange={(e) => setEdge(e.target.value)}>
        {ways.map((w) => <option key={w} value={w}>{w}</option>)}
      </select>
      <label htmlFor="tf-conn-to">{t("to")}</label>
      <select id="tf-conn-to" value={to} onChange={(e) => setTo(e.target.value)}>
        {ids.map((i) => <option key={i} value={i}>{i}</option>)}
      </select>
      <button type="submit" disabled={!ids.length}>{t("connect")}</button>
    </form>
  );
}

function Fields({ prefix, fields, values, t, onSet, onDelete }) {
  const [draft, setDraft] = useState({});
  const names = [...fields, ...Object.keys(values).filter((k) => !fields.includes(k) && !EDGE_FIELDS.has(k))];
  return (
    <form className="tf-form" onSubmit={(e) => {
      e.preventDefault();
      Object.entries(draft).forEach(([name, raw]) => onSet(name, parseValue(raw)));
      setDraft({});
    }}>
      {names.map((name) => (
        <div key={name} className="tf-field">
          <label htmlFor={`${prefix}-${name}`}>{name}</label>
          <input id={`${prefix}-${name}`} name={name}
            value={draft[name] !== undefined ? draft[name] : showValue(values[name])}
            onChange={(e) => setDraft({ ...draft, [name]: e.target.value })} />
        </div>
      ))}
      <button type="submit">{t("apply")}</button>
      {onDelete && <button type="button" className="tf-danger" onClick={onDelete}>{t("delete_node")}</button>}
    </form>
  );
}

export function NodePanel({ node, schema, t, onSet, onDelete }) {
  const def = schema.$defs[`${node.kind}_node`];
  const fields = def ? Object.keys(def.properties || {}).filter((k) => !EDGE_FIELDS.has(k)) : [];
  return (
    <section aria-labelledby="tf-node-h" className="tf-panel-section">
      <h3 id="tf-node-h">{t("node")}: {node.id} ({node.kind})</h3>
      <Fields key={node.id} prefix={`tf-f-${node.id}`} fields={fields} values={node.fields} t={t}
        onSet={onSet} onDelete={onDelete} />
    </section>
  );
}

export function SettingsPanel({ settings, schema, t, onSet }) {
  const fields = Object.keys(schema.properties).filter((k) => k !== "nodes" && k !== "layout");
  return (
    <section aria-labelledby="tf-settings-h" className="tf-panel-section">
      <h3 id="tf-settings-h">{t("settings")}</h3>
      <Fields prefix="tf-s" fields={fields} values={settings} t={t} onSet={onSet} />
    </section>
  );
}
