// Multi-select, copy / paste of sub-graphs as YAML text (the clipboard, or a paste dialog: within and across
// journeys) and sticky notes. Notes are canvas nodes with ids "note:<id>"; every change is an edit operation
// (paste, note), so undo and redo cover them like any other edit.
import React, { useEffect, useState } from "react";
import { copyFragment } from "./liveApi.js";

export const NOTE = "note:";
const STORE = "touchflow.builder.fragment";

export function NoteNode({ data, selected }) {
  const [text, setText] = useState(data.note.text);
  useEffect(() => setText(data.note.text), [data.note.text]);
  return (
    <div className={`tf-note${selected ? " tf-selected" : ""}`} data-note-id={data.note.id}>
      <label className="visually-hidden" htmlFor={`tf-note-${data.note.id}`}>{data.t("note.label")} {data.note.id}</label>
      <textarea id={`tf-note-${data.note.id}`} className="nodrag" value={text} rows={3} readOnly={!data.canWrite}
        onChange={(e) => setText(e.target.value)}
        onBlur={() => { if (text !== data.note.text) data.onText(data.note.id, text); }} />
    </div>
  );
}

// The notes of the graph as React Flow nodes.
export function notesToFlow(notes, picked, t, canWrite, onText) {
  return (notes || []).map((note) => ({
    id: `${NOTE}${note.id}`, type: "note", position: { x: note.x, y: note.y }, selected: picked.includes(`${NOTE}${note.id}`),
    data: { note, t, canWrite, onText }, focusable: false,  // the note's text field takes the focus
  }));
}

// React Flow's select changes (click, shift-click, box select) into the list of picked ids.
export function pickedAfter(picked, changes) {
  let next = picked;
  changes.forEach((c) => {
    if (c.type !== "select") return;
    if (c.selected && !next.includes(c.id)) next = [...next, c.id];
    if (!c.selected && next.includes(c.id)) next = next.filter((id) => id !== c.id);
  });
  return next;
}

// Moves after a drag of one or several nodes and notes, as edit operations: whole pixels, as the layout key is
// written (a zoomed canvas drags in fractions); a position that is not a finite number is not sent.
export function moveOps(dragged) {
  return dragged.filter((n) => Number.isFinite(n.position.x) && Number.isFinite(n.position.y)).map((n) => {
    const x = Math.round(n.position.x);
    const y = Math.round(n.position.y);
    return n.id.startsWith(NOTE) ? { op: "note", id: n.id.slice(NOTE.length), x, y } : { op: "move", id: n.id, x, y };
  });
}

// Deleting nodes and notes together.
export function deleteOps(gone) {
  return gone.map((n) => (n.id.startsWith(NOTE) ? { op: "note", id: n.id.slice(NOTE.length), text: null }
    : { op: "delete_node", id: n.id }));
}

export function ClipboardPanel({ t, csrf, picked, setPicked, apply, docRef, say, pasteOpen, setPasteOpen }) {
  const [fragment, setFragment] = useState("");
  // only what is still on the canvas (an undo may have taken a picked node away)
  const here = new Set(docRef.current.graph.nodes.map((n) => n.id));
  const noted = new Set((docRef.current.graph.notes || []).map((n) => n.id));
  const nodes = picked.filter((id) => !id.startsWith(NOTE) && here.has(id));
  const notes = picked.filter((id) => id.startsWith(NOTE)).map((id) => id.slice(NOTE.length)).filter((id) => noted.has(id));
  const copy = async () => {
    if (!nodes.length && !notes.length) return;
    const answer = await copyFragment(csrf, docRef.current.text, nodes, notes);
    if (!answer.ok) { say(answer.data ? answer.data.detail : t("failed")); return; }
    setFragment(answer.data.fragment);
    try { window.localStorage.setItem(STORE, answer.data.fragment); } catch (e) { /* storage off: the dialog keeps it */ }
    try { await navigator.clipboard.writeText(answer.data.fragment); } catch (e) { /* no clipboard: the dialog keeps it */ }
    say(`${t("clip.copied")}: ${nodes.length} ${t("clip.nodes")}, ${notes.length} ${t("clip.notes")}`);
  };
  const openPaste = () => {
    let stored = "";
    try { stored = window.localStorage.getItem(STORE) || ""; } catch (e) { stored = ""; }
    setFragment(fragment || stored);
    setPasteOpen(true);
  };
  const paste = async (e) => {
    e.preventDefault();
    const before = new Set(docRef.current.graph.nodes.map((n) => n.id));
    const notesBefore = new Set((docRef.current.graph.notes || []).map((n) => n.id));
    await apply([{ op: "paste", fragment, dx: 40, dy: 40 }], t("clip.pasted"));
    const added = docRef.current.graph.nodes.map((n) => n.id).filter((id) => !before.has(id));
    const addedNotes = (docRef.current.graph.notes || []).map((n) => n.id).filter((id) => !notesBefore.has(id));
    if (added.length || addedNotes.length) { setPicked([...added, ...addedNotes.map((id) => `${NOTE}${id}`)]); setPasteOpen(false); }
  };
  const addNote = () => {
    const taken = new Set((docRef.current.graph.notes || []).map((n) => n.id));
    let n = taken.size + 1;
    while (taken.has(`n${n}`)) n += 1;
    apply([{ op: "note", id: `n${n}`, x: 0, y: -120, text: t("note.new") }], `${t("note.added")} n${n}`);
  };
  useEffect(() => {
    // Ctrl+C / Ctrl+V on the canvas (not inside a text field): copy the selection, open the paste dialog.
    const onKey = (e) => {
      if (!(e.ctrlKey || e.metaKey) || e.target.closest("input, textarea, select")) return;
      if (e.key.toLowerCase() === "c" && picked.length) { e.preventDefault(); copy(); }
      if (e.key.toLowerCase() === "v") { e.preventDefault(); openPaste(); }
    };
    document.addEventListener("keydown", onKey);
    return () => document.removeEventListener("keydown", onKey);
  });
  return (
    <section className="tf-form" aria-labelledby="tf-clip-h" data-clipboard>
      <h3 id="tf-clip-h">{t("clip.title")}</h3>
      <p data-picked={picked.length}>{picked.length} {t("clip.selected")}</p>
      <p className="tf-dry-note" id="tf-pick-keys">{t("pick.keys")}</p>
      <button type="button" onClick={copy} disabled={!picked.length} data-copy>{t("clip.copy")}</button>
      <button type="button" onClick={openPaste} data-paste-open>{t("clip.paste")}</button>
      <button type="button" onClick={addNote} data-add-note>{t("note.add")}</button>
      {pasteOpen && (
        <form onSubmit={paste} data-paste-dialog>
          <label htmlFor="tf-fragment">{t("clip.fragment")}</label>
          <textarea id="tf-fragment" rows={8} value={fragment} onChange={(e) => setFragment(e.target.value)} />
          <button type="submit" disabled={!fragment.trim()} data-paste-go>{t("clip.paste_go")}</button>
          <button type="button" onClick={() => setPasteOpen(false)}>{t("clip.close")}</button>
        </form>
      )}
    </section>
  );
}
