// Live numbers of the published journey on the canvas (per node and edge, for a date range: the metric
// rollups' numbers) and, for the selected node, the contacts waiting there with pause / resume / remove / retry.
import React, { useEffect, useMemo, useState } from "react";
import { makeLiveApi } from "./liveApi.js";

const MESSAGE_SHOWN = ["sent", "delivered", "opened_unique", "clicked_unique", "bounced", "skipped"];

// What the node shows: the four run counts, then the messages by status that are not 0.
export function LiveBadge({ numbers, t }) {
  const n = numbers || { entered: 0, waiting: 0, exited: 0, converted: 0, messages: {} };
  const messages = MESSAGE_SHOWN.filter((m) => n.messages[m]);
  return (
    <div className="tf-live" data-live>
      {["entered", "waiting", "exited", "converted"].map((k) => (
        <span key={k} data-live-count={k}>{t(`live.${k}`)} {n[k]}</span>
      ))}
      {messages.map((m) => <span key={m} data-live-message={m}>{t(`live.msg.${m}`)} {n.messages[m]}</span>)}
    </div>
  );
}

// An edge with the runs that took it during the range, in its label and its accessible name.
export function showLiveOnEdge(edge, live) {
  const count = live && live.edges[edge.id];
  if (count === undefined || count === null) return;
  edge.label = `${edge.label} · ${count}`;
  edge.ariaLabel = `${edge.label}: ${edge.source} → ${edge.target}`;
}

const ACTIONS = { waiting: ["pause", "remove"], active: ["pause", "remove"], paused: ["resume", "remove"], failed: ["retry", "remove"] };

function Waiting({ api, journey, node, t, canAct, say, onChanged }) {
  const [list, setList] = useState(null);
  const [reason, setReason] = useState("");
  const load = async () => {
    const answer = await api.waiting(journey, node);
    setList(answer.ok ? answer.data : { denied: answer.status === 403, contacts: [], total: 0 });
  };
  useEffect(() => { load(); }, [journey, node]); // eslint-disable-line react-hooks/exhaustive-deps
  if (!list) return null;
  if (list.denied) return <p data-waiting-denied>{t("live.no_contacts")}</p>;
  const act = async (contact, action, label) => {
    const answer = await api.act(journey, contact, action, reason);
    say(answer.ok ? `${t(`live.done.${action}`)}: ${label}` : (answer.data ? answer.data.detail : t("failed")));
    await load();
    onChanged();
  };
  return (
    <div data-waiting={node}>
      <h4>{t("live.waiting_at")} {node} ({list.total})</h4>
      {canAct && list.contacts.length > 0 && (
        <p>
          <label htmlFor="tf-live-reason">{t("live.reason")}</label>
          <input id="tf-live-reason" value={reason} onChange={(e) => setReason(e.target.value)} />
        </p>
      )}
      {list.contacts.length === 0 ? <p>{t("live.nobody")}</p> : (
        <table className="tf-waiting">
          <thead><tr><th scope="col">{t("live.contact")}</th><th scope="col">{t("live.status")}</th>
            {canAct && <th scope="col">{t("live.actions")}</th>}</tr></thead>
          <tbody>
            {list.contacts.map((c) => {
              const label = [c.name, c.email, c.phone].filter(Boolean).join(" · ") || t("live.unnamed");
              return (
                <tr key={c.contact} data-waiting-contact={c.contact}>
                  <td>{label}</td>
                  <td data-run-status={c.status}>{t(`live.status.${c.status}`) || c.status}</td>
                  {canAct && (
                    <td>{(ACTIONS[c.status] || []).map((a) => (
                      <button key={a} type="button" data-run-action={a} className={a === "remove" ? "tf-danger" : ""}
                        aria-label={`${t(`live.action.${a}`)}: ${label}`} onClick={() => act(c.contact, a, label)}>
                        {t(`live.action.${a}`)}
                      </button>
                    ))}</td>
                  )}
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
    </div>
  );
}

export function LivePanel({ journey, csrf, t, selected, canAct, live, setLive, say }) {
  const api = useMemo(() => makeLiveApi(csrf), [csrf]);
  const [from, setFrom] = useState("");
  const [to, setTo] = useState("");
  const load = async (e) => {
    if (e) e.preventDefault();
    const answer = await api.numbers(journey, from, to);
    if (!answer.ok) { say(answer.data ? answer.data.detail : t("failed")); return; }
    setLive(answer.data); setFrom(answer.data.from); setTo(answer.data.to);
    say(`${t("live.shown")} ${answer.data.from} – ${answer.data.to}`);
  };
  return (
    <section className="tf-live-panel" aria-labelledby="tf-live-h" data-live-panel>
      <h3 id="tf-live-h">{t("live.title")}</h3>
      <form onSubmit={load}>
        <label htmlFor="tf-live-from">{t("live.from")}</label>
        <input id="tf-live-from" type="date" value={from} onChange={(e) => setFrom(e.target.value)} />
        <label htmlFor="tf-live-to">{t("live.to")}</label>
        <input id="tf-live-to" type="date" value={to} onChange={(e) => setTo(e.target.value)} />
        <button type="submit" data-live-go>{t("live.show")}</button>
        {live && <button type="button" onClick={() => setLive(null)}>{t("dry_clear")}</button>}
      </form>
      {live && <p className="tf-dry-note">{t("live.note")}</p>}
      {live && selected && (
        <Waiting api={api} journey={journey} node={selected} t={t} canAct={canAct} say={say} onChanged={() => load()} />
      )}
    </section>
  );
}
