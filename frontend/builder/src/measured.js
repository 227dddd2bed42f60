// The sizes React Flow measured for each node, handed back with every redraw. The canvas's nodes are rebuilt from
// the server's graph after each edit; a node without its measured size is dragged at NaN (React Flow multiplies
// the missing width by the node origin), so a drag after a zoom or an edit sent "x": null.
import { useCallback, useEffect, useMemo, useRef } from "react";
import { useStoreApi } from "@xyflow/react";

export function useMeasured() {
  const sizes = useRef({});
  const record = useCallback((changes) => {
    changes.forEach((c) => { if (c.type === "dimensions" && c.dimensions) sizes.current[c.id] = c.dimensions; });
  }, []);
  const attach = useCallback((nodes) => {
    nodes.forEach((n) => { const m = sizes.current[n.id]; if (m) n.measured = { width: m.width, height: m.height }; });
    return nodes;
  }, []);
  return useMemo(() => ({ record, attach }), [record, attach]);
}

// A node measured while an older drawing of the graph was still on its way to the store is handed that older,
// unmeasured node afterwards and stays hidden: React Flow re-observes it only when its "initialized" flag flips,
// and the flip was batched away (seen under load in CI). A moment after every redraw, measure such nodes again.
export function useRemeasureHidden(nodes) {
  const store = useStoreApi();
  useEffect(() => {
    const timer = setTimeout(() => {
      const { nodeLookup, domNode, updateNodeInternals } = store.getState();
      const updates = new Map();
      nodeLookup.forEach((node, id) => {
        if (node.hidden || (node.internals.handleBounds && node.measured?.width !== undefined)) return;
        const nodeElement = domNode?.querySelector(`.react-flow__node[data-id="${CSS.escape(id)}"]`);
        if (nodeElement) updates.set(id, { id, nodeElement, force: true });
      });
      if (updates.size) updateNodeInternals(updates);
    }, 150);
    return () => clearTimeout(timer);
  }, [nodes, store]);
}
