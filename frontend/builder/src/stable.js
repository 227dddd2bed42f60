// Hands React Flow the node and edge objects of the previous drawing when nothing the canvas shows of them
// changed: after an edit the server answers the whole graph as new objects, and without this React Flow redrew
// all 200 nodes of a large journey to pin one finding (React Flow redraws a node whose object is new).
import { useCallback, useRef } from "react";

function kept(cache, items, signature) {
  const next = new Map();
  const out = items.map((item) => {
    const sig = signature(item);
    if (sig === null) return item;
    const old = cache.get(item.id);
    const chosen = old && old.sig === sig ? old.item : item;
    next.set(item.id, { sig, item: chosen });
    return chosen;
  });
  return [out, next];
}

// Everything JourneyNode and React Flow read of a journey node; null: not kept (sticky notes hold callbacks). Not
// its measured size: React Flow keeps the size it measured for a node whose object is the same.
const nodeSignature = (n) => (n.type !== "journey" ? null : JSON.stringify([n.position, n.selected, n.className,
  n.data.node, n.data.findings, n.data.outcome, n.data.live === undefined ? "-" : n.data.live]));
const edgeSignature = (e) => JSON.stringify(e);

export function useStable() {
  const seen = useRef({ t: null, nodes: new Map(), edges: new Map() });
  // keep false: draw these objects as they are and forget the kept ones (the publish diff marks its objects)
  return useCallback((flow, t, keep = true) => {
    const s = seen.current;
    if (s.t !== t || !keep) Object.assign(s, { t, nodes: new Map(), edges: new Map() });
    if (!keep) return flow;
    [flow.nodes, s.nodes] = kept(s.nodes, flow.nodes, nodeSignature);
    [flow.edges, s.edges] = kept(s.edges, flow.edges, edgeSignature);
    return flow;
  }, []);
}
