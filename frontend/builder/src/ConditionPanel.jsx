// A condition builder for a branch's cases (and, through ConditionBuilder, a journey's exit rules): the segment page's rows (attribute, tag, stage, event happened, event did
// not happen, in another segment) joined by all / any, written in the same condition language. The server's
// validator checks the result like any other edit and pins what is wrong to the node.
import React, { useState } from "react";

export const KINDS = ["attr", "tag", "stage", "event", "no", "in_segment"];
export const OPS = ["eq", "ne", "gt", "gte", "lt", "lte", "in", "contains", "exists", "not_exists"];

function scalar(text) {
  const s = text.trim();
  if (/^-?\d+(\.\d+)?$/.test(s)) return Number(s);
  if (s === "true" || s === "false") return s === "true";
  return s;
}

// One row as a condition (the same mapping as the segment page's form: console/views/segment_form.py).
export function rowCondition(row) {
  const name = row.field.trim();
  if (row.kind === "attr") {
    if (row.op === "exists" || row.op === "not_exists") return { attr: name, [row.op]: true };
    if (row.op === "in") return { attr: name, in: row.value.replace(/，/g, ",").split(",").filter((v) => v.trim()).map(scalar) };
    return { attr: name, [row.op]: scalar(row.value) };
  }
  if (row.kind === "stage") {
    const stages = name.replace(/，/g, ",").split(",").map((s) => s.trim()).filter(Boolean);
    return { stage: stages.length === 1 ? stages[0] : stages };
  }
  if (row.kind === "event" || row.kind === "no") {
    const found = { [row.kind]: name };
    if (row.kind === "event" && row.count.trim() && row.count.trim() !== ">= 1") found.count = row.count.trim();
    if (row.within.trim()) found.within = row.within.trim();
    return found;
  }
  return { [row.kind]: name };
}

export function buildCondition(join, rows) {
  const parts = rows.filter((r) => r.field.trim()).map(rowCondition);
  if (!parts.length) return null;
  return parts.length === 1 ? parts[0] : { [join]: parts };
}

const blank = () => ({ kind: "attr", field: "", op: "eq", value: "", count: ">= 1", within: "" });

function CaseBuilder({ index, current, t, onApply }) {
  return <ConditionBuilder prefix={`tf-cond-${index}`} legend={`${t("cond.case")} ${index + 1}`} data={{ "data-case": index }}
    current={current} t={t} onApply={onApply} />;
}

// The rows of one condition (a branch's case, a journey-wide exit rule): the segment page's builder.
export function ConditionBuilder({ prefix, legend, data, current, t, onApply, applyLabel }) {
  const [join, setJoin] = useState("all");
  const [rows, setRows] = useState([blank()]);
  const p = prefix;
  const set = (i, patch) => setRows(rows.map((r, n) => (n === i ? { ...r, ...patch } : r)));
  const condition = buildCondition(join, rows);
  return (
    <fieldset {...data}>
      <legend>{legend}</legend>
      {current !== undefined && <p className="tf-dry-note">{t("cond.now")}: <code>{JSON.stringify(current)}</code></p>}
      <label htmlFor={`${p}-join`}>{t("cond.join")}</label>
      <select id={`${p}-join`} value={join} onChange={(e) => setJoin(e.target.value)}>
        <option value="all">{t("cond.all")}</option>
        <option value="any">{t("cond.any")}</option>
      </select>
      {rows.map((r, i) => (
        <div key={i} className="tf-cond-row" data-cond-row={i}>
          <label htmlFor={`${p}-${i}-kind`}>{t("kind")}</label>
          <select id={`${p}-${i}-kind`} value={r.kind} onChange={(e) => set(i, { kind: e.target.value })}>
            {KINDS.map((k) => <option key={k} value={k}>{t(`cond.kind.${k}`)}</option>)}
          </select>
          <label htmlFor={`${p}-${i}-field`}>{t("cond.field")}</label>
          <input id={`${p}-${i}-field`} value={r.field} onChange={(e) => set(i, { field: e.target.value })} />
          {r.kind === "attr" && (
            <>
              <label htmlFor={`${p}-${i}-op`}>{t("cond.op")}</label>
              <select id={`${p}-${i}-op`} value={r.op} onChange={(e) => set(i, { op: e.target.value })}>
                {OPS.map((o) => <option key={o} value={o}>{t(`cond.op.${o}`)}</option>)}
              </select>
              {r.op !== "exists" && r.op !== "not_exists" && (
                <>
                  <label htmlFor={`${p}-${i}-value`}>{t("cond.value")}</label>
                  <input id={`${p}-${i}-value`} value={r.value} onChange={(e) => set(i, { value: e.target.value })} />
                </>
              )}
            </>
          )}
          {(r.kind === "event" || r.kind === "no") && (
            <>
              <label htmlFor={`${p}-${i}-within`}>{t("cond.within")}</label>
              <input id={`${p}-${i}-within`} value={r.within} placeholder="30d" onChange={(e) => set(i, { within: e.target.value })} />
            </>
          )}
          {rows.length > 1 && <button type="button" onClick={() => setRows(rows.filter((_, n) => n !== i))}>{t("send.remove")}</button>}
        </div>
      ))}
      <button type="button" onClick={() => setRows([...rows, blank()])} data-cond-add>{t("cond.add_row")}</button>
      <button type="button" disabled={!condition} onClick={() => onApply(condition)} data-cond-apply>{applyLabel || t("apply")}</button>
    </fieldset>
  );
}

export function ConditionPanel({ node, t, onSetPath }) {
  const cases = Array.isArray(node.fields.cases) ? node.fields.cases : [];
  return (
    <section className="tf-form" aria-labelledby="tf-cond-h" data-condition-panel>
      <h3 id="tf-cond-h">{t("cond.title")}</h3>
      {cases.map((c, i) => (
        <CaseBuilder key={i} index={i} current={c && c.if} t={t} onApply={(cond) => onSetPath(["cases", String(i), "if"], cond)} />
      ))}
      <button type="button" data-case-add
        onClick={() => onSetPath(["cases", String(cases.length)], { if: { always: true } })}>{t("cond.add_case")}</button>
    </section>
  );
}
