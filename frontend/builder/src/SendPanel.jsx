// Side-panel polish for a send node: the channel, the fallback chain (ordered, add / move / remove) and a template
// picker listing the library's templates of the channel with their compliance status and a preview.
import React, { useEffect, useState } from "react";
import { TemplatePreview } from "./TemplatePreview.jsx";

async function getJson(url) {
  const response = await fetch(url, { credentials: "same-origin" });
  let data = null;
  try { data = await response.json(); } catch (e) { data = null; }
  return { ok: response.ok, status: response.status, data };
}

function asList(value) {
  if (value === undefined || value === null) return [];
  return Array.isArray(value) ? value : [value];
}

export function SendPanel({ node, schema, t, onSet, csrf }) {
  const channels = (schema.$defs.send_node.properties.channel.enum || []).filter((c) => c !== "wechat_mp");
  const channel = node.fields.channel || "";
  const chain = asList(node.fields.fallback);
  const [adding, setAdding] = useState("");
  const [templates, setTemplates] = useState(null);
  const [preview, setPreview] = useState(null);
  useEffect(() => {
    getJson("/v1/templates").then((a) => setTemplates(a.ok ? a.data.items : { denied: true }));
  }, []);
  useEffect(() => {
    setPreview(null);
    if (!node.fields.template) return;
    getJson(`/v1/templates/${encodeURIComponent(node.fields.template)}`).then((a) => setPreview(a.ok ? a.data : { missing: true }));
  }, [node.fields.template]);
  const setChain = (list) => onSet("fallback", list.length ? list : null);
  const move = (i, by) => { const l = [...chain]; [l[i], l[i + by]] = [l[i + by], l[i]]; setChain(l); };
  const offered = Array.isArray(templates) ? templates.filter((x) => !channel || x.channel === channel) : [];
  const spare = channels.filter((c) => c !== channel && !chain.includes(c));
  return (
    <section className="tf-form" aria-labelledby="tf-send-h" data-send-panel>
      <h3 id="tf-send-h">{t("send.title")}</h3>
      <label htmlFor="tf-send-channel">{t("send.channel")}</label>
      <select id="tf-send-channel" value={channel} onChange={(e) => onSet("channel", e.target.value)}>
        {!channel && <option value="">—</option>}
        {channels.map((c) => <option key={c} value={c}>{c}</option>)}
      </select>
      <fieldset>
        <legend>{t("send.fallback")}</legend>
        <ol data-fallback>
          {chain.map((c, i) => (
            <li key={c}>
              {c}{" "}
              <button type="button" disabled={i === 0} onClick={() => move(i, -1)} aria-label={`${t("send.up")}: ${c}`}>↑</button>
              <button type="button" disabled={i === chain.length - 1} onClick={() => move(i, 1)} aria-label={`${t("send.down")}: ${c}`}>↓</button>
              <button type="button" onClick={() => setChain(chain.filter((x) => x !== c))} aria-label={`${t("send.remove")}: ${c}`}>×</button>
            </li>
          ))}
        </ol>
        <label htmlFor="tf-send-fallback">{t("send.fallback_add")}</label>
        <select id="tf-send-fallback" value={adding} onChange={(e) => setAdding(e.target.value)}>
          <option value="">—</option>
          {spare.map((c) => <option key={c} value={c}>{c}</option>)}
        </select>
        <button type="button" disabled={!adding} data-fallback-add onClick={() => { setChain([...chain, adding]); setAdding(""); }}>{t("add")}</button>
      </fieldset>
      <label htmlFor="tf-send-template">{t("send.template")}</label>
      {templates && templates.denied ? <p>{t("send.no_library")}</p> : (
        <select id="tf-send-template" value={node.fields.template || ""} onChange={(e) => onSet("template", e.target.value || null)}>
          <option value="">—</option>
          {node.fields.template && !offered.some((x) => x.name === node.fields.template) && (
            <option value={node.fields.template}>{node.fields.template} ({t("send.not_in_library")})</option>
          )}
          {offered.map((x) => (
            <option key={x.name} value={x.name}>{x.name} · v{x.version} · {t(`send.status.${x.status}`) || x.status}</option>
          ))}
        </select>
      )}
      {preview && (preview.missing ? <p className="tf-error" data-template-missing>{t("send.not_in_library")}</p> : (
        <div className="tf-preview" data-template-preview>
          <p data-template-status={preview.status}>{t("send.compliance")}: {t(`send.status.${preview.status}`) || preview.status}
            {preview.findings && preview.findings.length ? ` · ${preview.findings.length} ${t("send.findings")}` : ""}</p>
          {preview.subject && <p><strong>{preview.subject}</strong></p>}
          <pre>{String(preview.text_body || preview.body || "").slice(0, 600)}</pre>
        </div>
      ))}
      {preview && !preview.missing && <TemplatePreview template={node.fields.template} csrf={csrf} t={t} />}
    </section>
  );
}
