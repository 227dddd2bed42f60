// The chosen template rendered for one real contact (the content preview service: POST /v1/templates/{name}/preview,
// untracked, nothing sent): subject, text and the variables this contact lacks, which render empty.
import React, { useEffect, useState } from "react";

export function TemplatePreview({ template, csrf, t }) {
  const [contact, setContact] = useState("");
  const [shown, setShown] = useState(null);
  const [problem, setProblem] = useState("");
  useEffect(() => { setShown(null); setProblem(""); }, [template]);
  if (!template) return null;
  const render = async (e) => {
    e.preventDefault();
    setProblem("");
    const response = await fetch(`/v1/templates/${encodeURIComponent(template)}/preview`, {
      method: "POST", credentials: "same-origin",
      headers: { "X-CSRF-Token": csrf, "Content-Type": "application/json" },
      body: JSON.stringify({ contact: contact.trim() }),
    });
    let data = null;
    try { data = await response.json(); } catch (err) { data = null; }
    if (!response.ok) {
      setShown(null);
      setProblem(response.status === 403 ? t("tpl.denied") : (data && data.detail) || t("failed"));
      return;
    }
    setShown(data);
  };
  return (
    <form className="tf-preview" onSubmit={render} data-template-for-contact>
      <label htmlFor="tf-tpl-contact">{t("tpl.contact")}</label>
      <input id="tf-tpl-contact" value={contact} placeholder="email:li@example.cn"
        onChange={(e) => setContact(e.target.value)} />
      <button type="submit" disabled={!contact.trim()} data-tpl-render>{t("tpl.render")}</button>
      {problem && <p className="tf-error" role="alert" data-tpl-problem>{problem}</p>}
      {shown && (
        <div data-tpl-rendered>
          <p className="tf-dry-note">{t("tpl.note")} · v{shown.version} · {shown.contact_id}</p>
          {shown.subject && <p><strong data-tpl-subject>{shown.subject}</strong></p>}
          <pre data-tpl-text>{shown.text.slice(0, 2000)}</pre>
          {shown.undefined.length > 0 && (
            <p className="tf-warning" data-tpl-undefined>{t("tpl.undefined")}: {shown.undefined.join(", ")}</p>
          )}
        </div>
      )}
    </form>
  );
}
