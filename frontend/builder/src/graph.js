// From the server's graph (nodes as written, edges, layout) to React Flow nodes and edges; auto-layout.

export function edgeNames(node, schemaNode) {
  // The ways out of a node kind, from its fields: next, on_event/on_timeout, cases.N + else, paths.N.
  const kind = node.kind;
  if (kind === "exit") return [];
  if (kind === "wait_event") return ["on_event", "on_timeout"];
  if (kind === "branch") return [...(node.fields.cases || []).map((_, i) => `cases.${i}`), "else"];
  if (kind === "split") return (node.fields.paths || []).map((_, i) => `paths.${i}`);
  return ["next"];
}

export function autoLayout(graph) {
  // Layers by distance from the first node (breadth first), nodes of a layer side by side.
  const ids = graph.nodes.map((n) => n.id);
  if (!ids.length) return {};
  const out = {};
  graph.edges.forEach((e) => { (out[e.from] = out[e.from] || []).push(e.to); });
  const depth = { [ids[0]]: 0 };
  const queue = [ids[0]];
  while (queue.length) {
    const id = queue.shift();
    for (const next of out[id] || []) {
      if (next && depth[next] === undefined) { depth[next] = depth[id] + 1; queue.push(next); }
    }
  }
  let spare = Math.max(0, ...Object.values(depth)) + 1;
  ids.forEach((id) => { if (depth[id] === undefined) depth[id] = spare++; });
  const perLayer = {};
  const spots = {};
  ids.forEach((id) => {
    const layer = depth[id];
    const col = perLayer[layer] || 0;
    perLayer[layer] = col + 1;
    spots[id] = { x: col * 260, y: layer * 140 };
  });
  return spots;
}

export function toFlow(graph, findings, dryRun) {
  const byNode = {};
  findings.forEach((f) => { if (f.node) (byNode[f.node] = byNode[f.node] || []).push(f); });
  const fallback = autoLayout(graph);
  const nodes = graph.nodes.map((n) => ({
    id: n.id,
    type: "journey",
    position: n.position || fallback[n.id] || { x: 0, y: 0 },
    data: { node: n, findings: byNode[n.id] || [], outcome: dryRun ? dryRun[n.id] : undefined },
  }));
  const edges = graph.edges.filter((e) => e.to).map((e) => ({
    id: `${e.from}:${e.edge}`, source: e.from, sourceHandle: e.edge, target: e.to, label: e.edge,
    ariaLabel: `${e.edge}: ${e.from} → ${e.to}`,
  }));
  return { nodes, edges };
}
