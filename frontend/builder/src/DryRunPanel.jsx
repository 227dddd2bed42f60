// The dry run and the scenario run beside the canvas (issue 16). A real contact steps through the draft in the
// sandbox: the person chooses what the contact does per message or per wait (opens, clicks, a named event, at a
// virtual time); the contact's consent, segments, tags and stage copied from the real record are listed; the
// selected node shows each branch case met or not met with the values read, and each message rendered.
import React, { useState } from "react";
import { ImpactPanel } from "./ImpactPanel.jsx";

// The scenario's runs per edge in its label and accessible name (the key is the live numbers' "from:edge").
export function showSimOnEdge(edge, sim) {
  const count = sim && sim.edges ? sim.edges[edge.id] : undefined;
  if (count === undefined || count === null) return;
  edge.label = `${edge.label} · ${count}`;
  edge.ariaLabel = `${edge.label}: ${edge.source} → ${edge.target}`;
}

const DOES = ["open", "click", "event"];

function Reactions({ graph, reactions, setReactions, t }) {
  const targets = graph.nodes.filter((n) => n.kind === "send" || n.kind === "wait_event");
  const [node, setNode] = useState("");
  const [does, setDoes] = useState("open");
  const [event, setEvent] = useState("");
  const [at, setAt] = useState("1h");
  const chosen = node || (targets[0] ? targets[0].id : "");
  const add = () => {
    if (!chosen) return;
    const reaction = { node: chosen, does, at: at.trim() || "1h" };
    if (does === "event") reaction.event = event.trim();
    setReactions([...reactions.filter((r) => r.node !== chosen), reaction]);
  };
  return (
    <fieldset className="tf-reactions" data-reactions>
      <legend>{t("dry.reacts")}</legend>
      <p className="tf-dry-note">{t("dry.reacts_note")}</p>
      {reactions.length > 0 && (
        <ul>
          {reactions.map((r) => (
            <li key={r.node} data-reaction={r.node}>
              {r.node}: {t(`dry.does.${r.does}`)}{r.event ? ` ${r.event}` : ""} @ +{r.at}{" "}
              <button type="button" onClick={() => setReactions(reactions.filter((x) => x.node !== r.node))}
                aria-label={`${t("dry.remove")} ${r.node}`}>{t("dry.remove")}</button>
            </li>
          ))}
        </ul>
      )}
      <label htmlFor="tf-react-node">{t("node")}</label>
      <select id="tf-react-node" value={chosen} onChange={(e) => setNode(e.target.value)}>
        {targets.map((n) => <option key={n.id} value={n.id}>{n.id} ({t(`kind.${n.kind}`)})</option>)}
      </select>
      <label htmlFor="tf-react-does">{t("dry.does")}</label>
      <select id="tf-react-does" value={does} onChange={(e) => setDoes(e.target.value)}>
        {DOES.map((d) => <option key={d} value={d}>{t(`dry.does.${d}`)}</option>)}
      </select>
      {does === "event" && (
        <>
          <label htmlFor="tf-react-event">{t("dry.event")}</label>
          <input id="tf-react-event" value={event} placeholder="webinar_joined" onChange={(e) => setEvent(e.target.value)} />
        </>
      )}
      <label htmlFor="tf-react-at">{t("dry.react_at")}</label>
      <input id="tf-react-at" value={at} placeholder="2h, 1d" onChange={(e) => setAt(e.target.value)} />
      <button type="button" onClick={add} disabled={!chosen} data-reaction-add>{t("dry.react_add")}</button>
    </fieldset>
  );
}

function Copied({ copied, t }) {
  if (!copied) return null;
  const consent = Object.entries(copied.consent || {});
  return (
    <dl className="tf-copied" data-dry-copied>
      <dt>{t("dry.consent")}</dt>
      <dd data-copied="consent">{consent.length ? consent.map(([c, s]) => `${c}: ${t(`dry.consent.${s}`) || s}`).join(" · ") : t("dry.none")}</dd>
      <dt>{t("dry.segments")}</dt>
      <dd data-copied="segments">{copied.segments.length ? copied.segments.join(" · ") : t("dry.none")}</dd>
      <dt>{t("dry.tags")}</dt>
      <dd data-copied="tags">{copied.tags.length ? copied.tags.join(" · ") : t("dry.none")}</dd>
      <dt>{t("dry.stage")}</dt>
      <dd data-copied="stage">{copied.stage || t("dry.none")}</dd>
    </dl>
  );
}

function show(value) {
  return value === undefined || value === null ? "—" : (typeof value === "string" ? value : JSON.stringify(value));
}

// A branch's cases in order: met or not met, with each value read against what the case expected.
function Cases({ detail, t }) {
  const results = detail.conditions || [];
  const why = detail.why || [];
  return (
    <ol className="tf-cases" data-dry-cases>
      {results.map((met, i) => (
        <li key={i} data-case={i} data-met={met} className={met ? "tf-pass" : "tf-error"}>
          {`cases.${i}`}: {met ? t("dry.met") : t("dry.unmet")}
          <ul>
            {(why[i] || []).map((w, j) => (
              <li key={j}>{show(w.attr || w.segment || w.event || w.kind)} {show(w.op)} {show(w.expected)} — {t("dry.actual")} {show(w.actual)} {w.result ? "✓" : "✗"}</li>
            ))}
          </ul>
        </li>
      ))}
    </ol>
  );
}

function Detail({ node, id, t }) {
  const { detail = {} } = node;
  const rest = Object.entries(detail).filter(([k]) => k !== "why" && k !== "conditions");
  return (
    <div data-dry-detail>
      <h4>{id}: {node.badge}</h4>
      <dl>
        <dt>{t("dry_at")}</dt><dd>+{node.offset}</dd>
        {rest.map(([k, v]) => <React.Fragment key={k}><dt>{k}</dt><dd>{show(v)}</dd></React.Fragment>)}
      </dl>
      {detail.conditions && <Cases detail={detail} t={t} />}
      {(node.messages || []).map((m) => (
        <div key={m.id} className="tf-preview" data-dry-message>
          <p>{m.channel} · {m.template} · {m.status}{m.reason ? ` · ${m.reason}` : ""}{m.note ? ` · ${m.note}` : ""}</p>
          {m.preview && (
            <>
              {m.preview.subject && <p data-preview-subject><strong>{m.preview.subject}</strong></p>}
              <pre data-preview-text>{m.preview.text}</pre>
            </>
          )}
          {m.preview_error && <p className="tf-error">{m.preview_error}</p>}
        </div>
      ))}
    </div>
  );
}

export function DryRunPanel({ api, journey, t, docRef, graph, selected, dry, setDry, sim, setSim, say }) {
  const [contact, setContact] = useState("");
  const [reactions, setReactions] = useState([]);
  const [scenario, setScenario] = useState("");
  const runDry = async (e) => {
    e.preventDefault();
    // The text on the canvas, saved or not: the dry run reads the real contact and writes nothing.
    say(t("dry_running"));
    const answer = await api.dryRun(journey, contact.trim(), docRef.current.text, reactions);
    if (!answer.ok) { setDry(null); say(answer.data ? answer.data.detail : t("failed")); return; }
    setSim(null); setDry(answer.data);
    say(`${t("dry_done")}: ${Object.keys(answer.data.nodes).length} ${t("dry_nodes")}`);
  };
  const runScenario = async (e) => {
    e.preventDefault();
    say(t("dry_running"));
    const answer = await api.scenarioRun(journey, scenario, docRef.current.text);
    if (!answer.ok) { setSim(null); say(answer.data ? answer.data.detail : t("failed")); return; }
    setDry(null); setSim(answer.data);
    const s = answer.data.summary;
    say(`${t("sim_done")}: ${s.checks_passed} ${t("sim_passed")}, ${s.checks_failed} ${t("sim_failed")}`);
  };
  return (
    <>
      <section className="tf-dry" aria-labelledby="tf-dry-h" data-dry-run>
        <h3 id="tf-dry-h">{t("dry_run")}</h3>
        <form onSubmit={runDry}>
          <label htmlFor="tf-dry-contact">{t("dry_contact")}</label>
          <input id="tf-dry-contact" value={contact} placeholder="email:li@example.cn"
            onChange={(e) => setContact(e.target.value)} />
          <Reactions graph={graph} reactions={reactions} setReactions={setReactions} t={t} />
          <button type="submit" disabled={!contact.trim()} data-dry-run-go>{t("dry_go")}</button>
          {dry && <button type="button" onClick={() => setDry(null)}>{t("dry_clear")}</button>}
        </form>
        <form onSubmit={runScenario} data-scenario-run>
          <label htmlFor="tf-scenario">{t("sim_scenario")}</label>
          <textarea id="tf-scenario" rows={4} value={scenario} onChange={(e) => setScenario(e.target.value)} />
          <button type="submit" disabled={!scenario.trim()} data-scenario-go>{t("sim_go")}</button>
          {sim && <button type="button" onClick={() => setSim(null)}>{t("dry_clear")}</button>}
        </form>
        {sim && (
          <ul data-checks>
            {sim.checks.map((c, i) => <li key={i} className={c.passed ? "tf-pass" : "tf-error"} data-passed={c.passed}>{c.passed ? "✓" : "✗"} {c.name}: {c.detail}</li>)}
          </ul>
        )}
        {dry && <p className="tf-dry-note">{t("dry_note")} ({dry.status})</p>}
        {dry && <Copied copied={dry.copied} t={t} />}
        {dry && selected && dry.nodes[selected] && <Detail node={dry.nodes[selected]} id={selected} t={t} />}
      </section>
      <ImpactPanel api={api} journey={journey} t={t} docRef={docRef} say={say} />
    </>
  );
}
