// The journey's goal and its journey-wide exit rules, edited like a branch's cases. The goal is a conversion event
// with property filters (name = value, or several values: any of them); each exit rule is unsubscribed,
// complained, or a condition built with the segment page's rows. Every change is a set_field edit on the journey.
import React, { useState } from "react";
import { ConditionBuilder } from "./ConditionPanel.jsx";

const NAMED = ["unsubscribed", "complained"];

function scalar(text) {
  const s = text.trim();
  if (/^-?\d+(\.\d+)?$/.test(s)) return Number(s);
  if (s === "true" || s === "false") return s === "true";
  return s;
}

// {event, properties} from the form's rows; a value with commas is a list (any of the values).
export function goalOf(event, rows) {
  const properties = {};
  rows.filter((r) => r.name.trim() && r.value.trim()).forEach((r) => {
    const values = r.value.replace(/，/g, ",").split(",").map((v) => v.trim()).filter(Boolean).map(scalar);
    properties[r.name.trim()] = values.length === 1 ? values[0] : values;
  });
  return Object.keys(properties).length ? { event: event.trim(), properties } : { event: event.trim() };
}

function rowsOf(goal) {
  const props = (goal && goal.properties) || {};
  const rows = Object.entries(props).map(([name, v]) => ({ name, value: Array.isArray(v) ? v.join(", ") : String(v) }));
  return rows.length ? rows : [{ name: "", value: "" }];
}

function GoalForm({ goal, t, onSet }) {
  const [event, setEvent] = useState((goal && goal.event) || "");
  const [rows, setRows] = useState(rowsOf(goal));
  const set = (i, patch) => setRows(rows.map((r, n) => (n === i ? { ...r, ...patch } : r)));
  return (
    <fieldset data-goal-builder>
      <legend>{t("rules.goal")}</legend>
      <p className="tf-dry-note">{t("cond.now")}: <code>{goal ? JSON.stringify(goal) : t("rules.none")}</code></p>
      <label htmlFor="tf-goal-event">{t("rules.goal_event")}</label>
      <input id="tf-goal-event" value={event} onChange={(e) => setEvent(e.target.value)} placeholder="order_paid" />
      {rows.map((r, i) => (
        <div key={i} className="tf-cond-row" data-goal-row={i}>
          <label htmlFor={`tf-goal-${i}-name`}>{t("rules.prop_name")}</label>
          <input id={`tf-goal-${i}-name`} value={r.name} onChange={(e) => set(i, { name: e.target.value })} />
          <label htmlFor={`tf-goal-${i}-value`}>{t("rules.prop_value")}</label>
          <input id={`tf-goal-${i}-value`} value={r.value} onChange={(e) => set(i, { value: e.target.value })} />
          {rows.length > 1 && <button type="button" onClick={() => setRows(rows.filter((_, n) => n !== i))}>{t("send.remove")}</button>}
        </div>
      ))}
      <button type="button" onClick={() => setRows([...rows, { name: "", value: "" }])} data-goal-add-row>{t("rules.prop_add")}</button>
      <button type="button" disabled={!event.trim()} onClick={() => onSet(["goal"], goalOf(event, rows))} data-goal-apply>{t("apply")}</button>
      {goal && <button type="button" className="tf-danger" onClick={() => onSet(["goal"], null)}>{t("rules.goal_remove")}</button>}
    </fieldset>
  );
}

export function RulesPanel({ settings, t, onSet }) {
  const exits = Array.isArray(settings.exit_when) ? settings.exit_when : [];
  const [round, setRound] = useState(0); // a fresh, empty builder after each rule added
  const append = (rule) => {
    if (Array.isArray(settings.exit_when)) onSet(["exit_when", String(exits.length)], rule);
    else onSet(["exit_when"], [rule]);
    setRound(round + 1);
  };
  return (
    <section className="tf-form" aria-labelledby="tf-rules-h" data-rules-panel>
      <h3 id="tf-rules-h">{t("rules.title")}</h3>
      <GoalForm key={JSON.stringify(settings.goal || null)} goal={settings.goal} t={t} onSet={onSet} />
      <fieldset data-exit-rules>
        <legend>{t("rules.exits")}</legend>
        {exits.length === 0 && <p>{t("rules.none")}</p>}
        <ul>
          {exits.map((rule, i) => (
            <li key={i} data-exit-rule={i}>
              <code>{typeof rule === "string" ? t(`rules.named.${rule}`) || rule : JSON.stringify(rule)}</code>{" "}
              <button type="button" onClick={() => onSet(["exit_when", String(i)], null)}
                aria-label={`${t("send.remove")} ${typeof rule === "string" ? rule : JSON.stringify(rule)}`}>{t("send.remove")}</button>
            </li>
          ))}
        </ul>
        {NAMED.filter((name) => !exits.includes(name)).map((name) => (
          <button key={name} type="button" onClick={() => append(name)} data-exit-named={name}>
            {t("rules.add_named")} {t(`rules.named.${name}`)}
          </button>
        ))}
      </fieldset>
      <ConditionBuilder key={round} prefix="tf-exit" legend={t("rules.exit_new")} data={{ "data-exit-builder": true }}
        t={t} onApply={append} applyLabel={t("rules.exit_add")} />
    </section>
  );
}
