// The sizes React Flow measured for each node, handed back with every redraw. The canvas's nodes are rebuilt from
// the server's graph after each edit; a node without its measured size is dragged at NaN (React Flow multiplies
// the missing width by the node origin), so a drag after a zoom or an edit sent "x": null.
import { useCallback, useMemo, useRef } from "react";

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
