// One node on the canvas: kind, id, its findings (pinned by the server's validator) and a dry-run outcome.
import React from "react";
import { Handle, Position } from "@xyflow/react";
import { edgeNames } from "./graph.js";
import { LiveBadge } from "./LivePanel.jsx";

export function JourneyNode({ data, selected, isConnectable }) {
  const { node, findings, outcome, t } = data;
  const errors = findings.filter((f) => f.severity === "error");
  const ways = edgeNames(node);
  const cls = ["tf-node", selected ? "tf-selected" : "", errors.length ? "tf-has-error" : "",
    findings.length && !errors.length ? "tf-has-warning" : ""].join(" ");
  return (
    <div className={cls} data-node-id={node.id} data-kind={node.kind}>
      <Handle type="target" position={Position.Top} isConnectable={isConnectable} />
      <div className="tf-kind">{t(`kind.${node.kind}`) || node.kind}</div>
      <div className="tf-id">{node.id}</div>
      {findings.length > 0 && (
        <ul className="tf-findings" aria-label={t("findings")}>
          {findings.map((f, i) => (
            <li key={i} className={`tf-${f.severity}`} data-code={f.code}>{f.message}</li>
          ))}
        </ul>
      )}
      {outcome && <div className="tf-outcome" data-outcome>{outcome}</div>}
      {data.live !== undefined && <LiveBadge numbers={data.live} t={t} />}
      <div className="tf-handles">
        {ways.map((name, i) => (
          <Handle key={name} id={name} type="source" position={Position.Bottom} isConnectable={isConnectable}
            style={{ left: `${((i + 1) * 100) / (ways.length + 1)}%` }} title={name} />
        ))}
      </div>
    </div>
  );
}
