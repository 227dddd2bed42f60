// Impact preview before publishing (issue 16): the contacts in the journey now, per version and node, and what the
// draft on the canvas would change. Running contacts finish on the version they entered with: none moves; the
// preview says how many stay where and what new entrants meet instead (each run hears its own version's events).
import React, { useState } from "react";

function edges(map) {
  return Object.entries(map || {}).map(([e, to]) => `${e} → ${to || "∎"}`).join(", ") || "—";
}

function NodeRow({ n, t }) {
  return (
    <li data-impact-node={`${n.version}:${n.node}`} data-in-draft={n.in_draft}>
      <strong>v{n.version} · {n.node}</strong>: {t("impact.stay")} {n.stay}
      {" "}({Object.entries(n.statuses).map(([s, k]) => `${t(`live.status.${s}`) || s} ${k}`).join(", ")})
      <br />{t("impact.continues")} {edges(n.continues)}
      <br /><span className={n.in_draft === "unchanged" ? "" : "tf-legend-changed"}>{t(`impact.${n.in_draft}`)}</span>
      {n.changed.length > 0 && ` (${n.changed.join(", ")})`}
      {" · "}{t("impact.new_entrants")} {n.draft_next ? edges(n.draft_next) : t("impact.never_reach")}
    </li>
  );
}

export function ImpactPanel({ api, journey, t, docRef, say }) {
  const [impact, setImpact] = useState(null);
  const load = async () => {
    const answer = await api.impact(journey, docRef.current.text);
    if (!answer.ok) { setImpact(null); say(answer.data ? answer.data.detail : t("failed")); return; }
    setImpact(answer.data);
    say(`${t("impact.title")}: ${answer.data.running} ${t("impact.running")}, ${t("impact.move")} 0`);
  };
  const diff = impact && impact.diff;
  return (
    <section className="tf-impact" aria-labelledby="tf-impact-h" data-impact>
      <h3 id="tf-impact-h">{t("impact.title")}</h3>
      <button type="button" onClick={load} data-impact-go>{t("impact.go")}</button>
      {impact && <button type="button" onClick={() => setImpact(null)}>{t("dry_clear")}</button>}
      {impact && (
        <div data-impact-result>
          <p data-impact-summary>
            {impact.running} {t("impact.running")} · {t("impact.move")} {impact.move} · {t("impact.stay")} {impact.stay}
            {impact.at_changed_nodes > 0 && ` · ${t("impact.at_changed")} ${impact.at_changed_nodes}`}
          </p>
          <p className="tf-dry-note">{t("impact.rule")}</p>
          <ul className="tf-versions">
            {impact.versions.map((v) => (
              <li key={v.version} data-impact-version={v.version}>
                v{v.version}{v.current ? ` (${t("version_live")})` : ""}: {v.running} {t("impact.running")}
              </li>
            ))}
          </ul>
          {impact.nodes.length === 0 && <p>{t("impact.nobody")}</p>}
          <ul className="tf-impact-nodes">
            {impact.nodes.map((n) => <NodeRow key={`${n.version}:${n.node}`} n={n} t={t} />)}
          </ul>
          <p data-impact-diff>
            {t("impact.draft_changes")}{" "}
            {diff.empty ? t("diff_empty") : [
              diff.nodes_added.length ? `${t("diff_added")}: ${diff.nodes_added.join(", ")}` : "",
              diff.nodes_removed.length ? `${t("diff_removed")}: ${diff.nodes_removed.join(", ")}` : "",
              Object.keys(diff.nodes_changed).length ? `${t("diff_changed")}: ${Object.keys(diff.nodes_changed).join(", ")}` : "",
              diff.settings_changed.length ? `${t("settings")}: ${diff.settings_changed.join(", ")}` : "",
            ].filter(Boolean).join(" · ")}
          </p>
        </div>
      )}
    </section>
  );
}
