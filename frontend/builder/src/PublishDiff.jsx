// Before publishing: what changes against the live version, listed (the canvas draws it too) beside the
// YAML diff, with the one button that publishes. Publishing stays off while the validator reports errors.
import React from "react";

export function PublishDiff({ diff, t, canPublish, errors, onPublish, onClose }) {
  const s = diff.semantic;
  const edge = (e) => `${e.from}.${e.edge} → ${e.to || "end"}`;
  return (
    <section aria-labelledby="tf-diff-h" data-diff>
      <h3 id="tf-diff-h">{t("diff")}</h3>
      <p className="tf-diff-legend">
        <span className="tf-legend-added">{t("diff_added")}</span> · <span className="tf-legend-changed">{t("diff_changed")}</span>
        {" · "}<span className="tf-legend-removed">{t("diff_removed")}</span>
      </p>
      {s.empty && <p data-diff-empty>{t("diff_empty")}</p>}
      <ul data-diff-list>
        {s.nodes_added.map((n) => <li key={`a${n}`} data-diff-added={n}>+ {n}</li>)}
        {s.nodes_removed.map((n) => <li key={`r${n}`} data-diff-removed={n}>− {n}</li>)}
        {Object.entries(s.nodes_changed).map(([n, f]) => <li key={`c${n}`} data-diff-changed={n}>~ {n}: {f.join(", ")}</li>)}
        {s.edges_added.map((e) => <li key={`ea${e.from}${e.edge}`}>+ {edge(e)}</li>)}
        {s.edges_removed.map((e) => <li key={`er${e.from}${e.edge}`}>− {edge(e)}</li>)}
        {s.settings_changed.map((k) => <li key={`s${k}`}>~ {k}</li>)}
      </ul>
      <details open>
        <summary>{t("yaml_diff")}</summary>
        <pre data-yaml-diff tabIndex={0} aria-label={t("yaml_diff")}>{diff.yaml_diff}</pre>
      </details>
      {canPublish && errors > 0 && <p className="tf-error">{t("publish_blocked")}</p>}
      {canPublish && (
        <button type="button" onClick={onPublish} disabled={errors > 0 || s.empty} data-publish-confirm>
          {t("publish_confirm")}
        </button>
      )}
      <button type="button" onClick={onClose}>{t("diff_close")}</button>
    </section>
  );
}
