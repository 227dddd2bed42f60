// Multi-select by keyboard alone: Tab reaches each node on the canvas; Shift+Enter (or Shift+Space) on the
// focused node adds it to the selection or takes it out; Escape empties the selection. The selection is the
// clipboard's (Ctrl+C copies it, Delete removes it) and every change is announced to screen readers.
import { useCallback } from "react";
import { NOTE } from "./Clipboard.jsx";

export function focusedNodeId(target) {
  const el = target && target.closest ? target.closest(".react-flow__node") : null;
  return el ? el.getAttribute("data-id") : null;
}

export function togglePick(picked, id) {
  return picked.includes(id) ? picked.filter((p) => p !== id) : [...picked, id];
}

export function useKeyboardPick({ picked, setPicked, selected, setSelected, say, t }) {
  return useCallback((e) => {
    const id = focusedNodeId(e.target);
    if (!id || id.startsWith(NOTE) || id.startsWith("ghost:")) return;
    if (e.shiftKey && (e.key === "Enter" || e.key === " ")) {
      e.preventDefault();
      e.stopPropagation(); // React Flow's own Enter would replace the selection instead
      const next = togglePick(picked, id);
      const added = next.length > picked.length;
      setPicked(next);
      if (added) setSelected(id);
      else if (selected === id) setSelected(null);
      say(`${added ? t("pick.added") : t("pick.removed")} ${id}. ${next.length} ${t("pick.count")}`);
    } else if (e.key === "Escape" && picked.length) {
      setPicked([]);
      setSelected(null);
      say(t("pick.cleared"));
    }
  }, [picked, setPicked, selected, setSelected, say, t]);
}
