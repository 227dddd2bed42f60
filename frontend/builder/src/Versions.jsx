// Published versions of the journey, newest first, with how many contacts still run on each; "Restore"
// loads one as the draft (the canvas shows it, nothing runs differently until it is published again).
import React, { useEffect, useState } from "react";

export function Versions({ api, journey, t, canWrite, token, refresh, onRestored, say }) {
  const [list, setList] = useState(null);
  useEffect(() => {
    api.versions(journey).then((answer) => setList(answer.ok ? answer.data.versions : []));
  }, [api, journey, refresh]);
  if (!list || !list.length) return null;
  const restore = async (version) => {
    const answer = await api.restore(journey, version, token);
    if (!answer.ok) { say(answer.data ? answer.data.detail : t("failed")); return; }
    onRestored(answer.data, `${t("restored")} v${version}`);
  };
  return (
    <section aria-labelledby="tf-versions-h" data-versions>
      <h3 id="tf-versions-h">{t("versions")}</h3>
      <ul className="tf-versions">
        {list.map((v) => (
          <li key={v.version} data-version={v.version}>
            <strong>v{v.version}</strong>{v.live ? ` · ${t("version_live")}` : ""} · {v.published_at.slice(0, 16).replace("T", " ")}
            {" · "}{v.published_by} · {t("version_running")} {v.running}
            {canWrite && (
              <button type="button" onClick={() => restore(v.version)} data-restore={v.version}
                aria-label={`${t("restore")} v${v.version}`}>{t("restore")}</button>
            )}
          </li>
        ))}
      </ul>
    </section>
  );
}
