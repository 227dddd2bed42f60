// The semantic diff (draft against the live version) drawn on the canvas: added nodes and edges outlined
// green, changed nodes amber, removed nodes and edges put back as red ghosts where the live version had them.
import { toFlow } from "./graph.js";

export const GHOST = "ghost:";

export function overlayDiff(flow, diff, t) {
  const { semantic, live_graph: live } = diff;
  const added = new Set(semantic.nodes_added);
  const removed = new Set(semantic.nodes_removed);
  const changed = semantic.nodes_changed;
  flow.nodes.forEach((n) => {
    if (added.has(n.id)) { n.className = "tf-diff-added"; n.data.diff = "added"; }
    else if (changed[n.id]) { n.className = "tf-diff-changed"; n.data.diff = "changed"; }
  });
  const here = (id) => (removed.has(id) ? `${GHOST}${id}` : id);
  // where the live version drew them (its layout, or its auto-layout)
  const ghosts = toFlow(live, []).nodes.filter((g) => removed.has(g.id));
  ghosts.forEach((g) => {
    flow.nodes.push({ ...g, id: `${GHOST}${g.id}`, className: "tf-diff-removed", draggable: false, connectable: false,
      selectable: false, focusable: false, data: { ...g.data, t, diff: "removed" } });
  });
  const key = (e) => `${e.from}:${e.edge}`;
  const addedEdges = new Set(semantic.edges_added.map(key));
  flow.edges.forEach((e) => { if (addedEdges.has(e.id)) e.className = "tf-diff-added"; });
  semantic.edges_removed.filter((e) => e.to).forEach((e) => {
    flow.edges.push({ id: `${GHOST}${key(e)}`, source: here(e.from), sourceHandle: e.edge, target: here(e.to),
      label: e.edge, className: "tf-diff-removed", selectable: false, focusable: false,
      ariaLabel: `${e.edge}: ${e.from} → ${e.to}` });
  });
  return flow;
}
