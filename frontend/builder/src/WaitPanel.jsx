// Side-panel polish for time: a duration as an amount and a unit (wait's duration, wait_event's timeout), the
// time of day as a time field, and the weekdays — all in the contact's time zone, as the engine reads them.
import React, { useState } from "react";

const UNITS = ["d", "h", "m"];
const SIMPLE = /^\s*(\d+)\s*([dhm])\s*$/;

export function parseDuration(text) {
  // "3d" → {amount: 3, unit: "d"}; anything else (1d12h, 45s) stays text the person edits as written.
  const match = SIMPLE.exec(text || "");
  return match ? { amount: Number(match[1]), unit: match[2] } : null;
}

function Duration({ id, label, value, t, onSet }) {
  const parsed = parseDuration(value);
  const [amount, setAmount] = useState(parsed ? String(parsed.amount) : "");
  const [unit, setUnit] = useState(parsed ? parsed.unit : "d");
  if (value && !parsed) return <p>{label}: <code>{value}</code> ({t("time.as_written")})</p>;
  const commit = (a, u) => { if (/^\d+$/.test(a) && Number(a) > 0) onSet(`${Number(a)}${u}`); };
  return (
    <fieldset data-duration={id}>
      <legend>{label}</legend>
      <label htmlFor={`${id}-amount`}>{t("time.amount")}</label>
      <input id={`${id}-amount`} type="number" min="1" value={amount}
        onChange={(e) => setAmount(e.target.value)} onBlur={() => commit(amount, unit)} />
      <label htmlFor={`${id}-unit`}>{t("time.unit")}</label>
      <select id={`${id}-unit`} value={unit} onChange={(e) => { setUnit(e.target.value); commit(amount, e.target.value); }}>
        {UNITS.map((u) => <option key={u} value={u}>{t(`time.unit.${u}`)}</option>)}
      </select>
    </fieldset>
  );
}

export function WaitPanel({ node, t, onSet }) {
  const isWait = node.kind === "wait";
  const days = Array.isArray(node.fields.weekdays) ? node.fields.weekdays : [];
  const until = typeof node.fields.until === "string" ? node.fields.until.trim().padStart(5, "0") : "";
  const toggle = (d) => {
    const next = days.includes(d) ? days.filter((x) => x !== d) : [...days, d].sort();
    onSet("weekdays", next.length ? next : null);
  };
  return (
    <section className="tf-form" aria-labelledby="tf-time-h" data-time-panel>
      <h3 id="tf-time-h">{t("time.title")}</h3>
      {isWait ? (
        <Duration id="tf-time-duration" label={t("time.duration")} value={node.fields.duration} t={t}
          onSet={(v) => onSet("duration", v)} />
      ) : (
        <Duration id="tf-time-timeout" label={t("time.timeout")} value={node.fields.timeout} t={t}
          onSet={(v) => onSet("timeout", v)} />
      )}
      {isWait && (
        <>
          <label htmlFor="tf-time-until">{t("time.until")}</label>
          <input id="tf-time-until" type="time" defaultValue={until} key={until}
            onBlur={(e) => onSet("until", e.target.value || null)} />
          <fieldset>
            <legend>{t("time.weekdays")}</legend>
            {[0, 1, 2, 3, 4, 5, 6].map((d) => (
              <label key={d} className="tf-day">
                <input type="checkbox" checked={days.includes(d)} onChange={() => toggle(d)} data-weekday={d} />
                {t(`time.day.${d}`)}
              </label>
            ))}
          </fieldset>
          <p className="tf-dry-note" data-zone-note>{t("time.contact_zone")}</p>
        </>
      )}
    </section>
  );
}
