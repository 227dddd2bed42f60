// The journey builder: the YAML text is the state; every change is a graph operation the server applies
// (POST /v1/journeys/edit), answering the new text, the graph and the findings of the one validator.
import React, { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { Background, Controls, MiniMap, ReactFlow, ReactFlowProvider, useReactFlow } from "@xyflow/react";
import { makeApi } from "./api.js";
import { autoLayout, toFlow } from "./graph.js";
import { JourneyNode } from "./JourneyNode.jsx";
import { AddNode, Connect, NodePanel, SettingsPanel } from "./forms.jsx";
import { LivePanel, showLiveOnEdge } from "./LivePanel.jsx";
import { SendPanel } from "./SendPanel.jsx";
import { WaitPanel } from "./WaitPanel.jsx";
import { ConditionPanel } from "./ConditionPanel.jsx";
import { RulesPanel } from "./RulesPanel.jsx";
import { ClipboardPanel, NoteNode, deleteOps, moveOps, notesToFlow, pickedAfter } from "./Clipboard.jsx";
import { overlayDiff } from "./diffOverlay.js";
import { PublishDiff } from "./PublishDiff.jsx";
import { Versions } from "./Versions.jsx";
import { DryRunPanel, showSimOnEdge } from "./DryRunPanel.jsx";
import { useMeasured, useRemeasureHidden } from "./measured.js";
import { useStable } from "./stable.js";
import { useKeyboardPick } from "./keyboardPick.js";

const HISTORY = 250;
const nodeTypes = { journey: JourneyNode, note: NoteNode };

function Builder({ config }) {
  const { key, csrf, canWrite, canPublish, schema, labels } = config;
  const t = useCallback((k) => labels[k] || "", [labels]);
  const api = useMemo(() => makeApi(csrf), [csrf]);
  const flow = useReactFlow();
  const measured = useMeasured();
  const stable = useStable();
  // The page carries the draft and its findings (config.initial; null: a new journey): the first render draws
  // them, with no request and no second drawing of every node when findings arrive.
  const initial = config.initial || null;
  const [doc, setDoc] = useState(() => (initial
    ? { text: initial.text, graph: initial.graph, findings: initial.findings || [] }
    : { text: "", graph: { settings: {}, nodes: [], edges: [] }, findings: [] }));
  const [token, setToken] = useState(initial ? initial.token : null);
  const [savedText, setSavedText] = useState(initial ? initial.text : "");
  const [past, setPast] = useState([]);
  const [future, setFuture] = useState([]);
  const [selected, setSelected] = useState(null);
  const [announce, setAnnounce] = useState("");
  const [conflict, setConflict] = useState(null);
  const [diff, setDiff] = useState(null);
  const [search, setSearch] = useState("");
  const [dry, setDry] = useState(null);
  const [sim, setSim] = useState(null);
  const [live, setLive] = useState(null);
  const [picked, setPicked] = useState([]);
  const [pasteOpen, setPasteOpen] = useState(false);
  const [publishedAt, setPublishedAt] = useState(0); // refreshes the list of versions
  // a new, empty journey is not zoomed onto its first node
  const [fitOnLoad, setFitOnLoad] = useState(() => !!initial && initial.graph.nodes.length > 0);
  const busy = useRef(Promise.resolve());
  const kinds = useMemo(() => Object.keys(schema.$defs).filter((d) => d.endsWith("_node")).map((d) => d.slice(0, -5)), [schema]);

  const say = (text) => setAnnounce(text);
  const onPickKey = useKeyboardPick({ picked, setPicked, selected, setSelected, say, t });
  const docRef = useRef(doc);
  const show = (text, data) => {
    // The ref first: a queued operation must start from this text even before React renders it.
    docRef.current = { text, graph: data.graph, findings: data.findings || [] };
    setDoc(docRef.current);
  };

  const apply = useCallback((ops, message) => {
    // Serialised: each operation starts from the text the previous one produced.
    busy.current = busy.current.then(async () => {
      const answer = await api.edit(docRef.current.text, ops);
      if (!answer.ok) { say(answer.data ? answer.data.detail : t("failed")); return; }
      setPast((p) => [...p.slice(-HISTORY + 1), docRef.current.text]);
      setFuture([]);
      setDiff(null); // the diff drawn on the canvas is of the saved draft: an edit makes it stale
      show(answer.data.text, answer.data);
      const errors = answer.data.findings.filter((f) => f.severity === "error").length;
      say(`${message}. ${errors ? `${errors} ${t("errors")}` : t("no_errors")}`);
    });
    return busy.current;
  }, [api, t]);

  const reload = useCallback((text, message) => {
    busy.current = busy.current.then(async () => {
      const answer = await api.edit(text, []);
      if (answer.ok) { show(answer.data.text, answer.data); if (message) say(message); }
    });
    return busy.current;
  }, [api]);

  useEffect(() => {
    if (initial) {
      if (!initial.findings) api.lint(initial.text).then((checked) => { // a page without them: ask
        if (checked.ok && docRef.current.text === initial.text) show(initial.text, { graph: initial.graph, findings: checked.data.findings });
      });
      return;
    }
    (config.initial === null ? Promise.resolve({ ok: false, status: 404 }) : api.load(key)).then(async (answer) => {
      if (answer.status === 404) {
        await reload(`key: ${key}\n`, t("new_journey"));
        return;
      }
      if (!answer.ok) return;
      // Draw at once from the loaded graph; the findings follow (no round trip through the YAML editor).
      setToken(answer.data.token); setSavedText(answer.data.text); setFitOnLoad(answer.data.graph.nodes.length > 0);
      show(answer.data.text, { graph: answer.data.graph, findings: [] });
      const checked = await api.lint(answer.data.text);
      if (checked.ok && docRef.current.text === answer.data.text) show(answer.data.text, { graph: answer.data.graph, findings: checked.data.findings });
    });
  }, [api, key, reload, t]);

  const undo = () => {
    if (!past.length) return;
    setFuture((f) => [docRef.current.text, ...f]);
    const previous = past[past.length - 1];
    setPast(past.slice(0, -1));
    reload(previous, t("undone"));
  };
  const redo = () => {
    if (!future.length) return;
    setPast((p) => [...p, docRef.current.text]);
    const next = future[0];
    setFuture(future.slice(1));
    reload(next, t("redone"));
  };

  const { nodes, edges } = useMemo(() => {
    const f = toFlow(doc.graph, doc.findings);
    f.nodes.forEach((n) => {
      n.data.t = t; n.selected = n.id === selected || picked.includes(n.id);
      const o = dry && dry.nodes[n.id];
      const c = sim && sim.counts[n.id];
      n.data.live = live ? (live.nodes[n.id] || null) : undefined;
      n.data.outcome = o ? o.badge : (c ? `${t("sim_entered")} ${c.entered} · ${Object.entries(c.left).map(([e, k]) => `${e} ${k}`).join(" · ")}${c.waiting ? ` · ${t("sim_waiting")} ${c.waiting}` : ""}` : null);
    });
    if (live) f.edges.forEach((e) => showLiveOnEdge(e, live));
    if (sim) f.edges.forEach((e) => showSimOnEdge(e, sim));
    f.nodes.push(...notesToFlow(doc.graph.notes, picked, t, canWrite,
      (id, text) => apply([{ op: "note", id, text }], `${t("note.changed")} ${id}`)));
    measured.attach(f.nodes);
    return diff ? overlayDiff(stable(f, t, false), diff, t) : stable(f, t);
  }, [doc, selected, t, dry, sim, live, picked, canWrite, apply, diff, measured, stable]);
  useRemeasureHidden(nodes);
  const errors = doc.findings.filter((f) => f.severity === "error");
  const globalFindings = doc.findings.filter((f) => !f.node);
  const selectedNode = doc.graph.nodes.find((n) => n.id === selected);

  const save = async (text = doc.text, withToken = token) => {
    const answer = await api.save(key, text, withToken);
    if (answer.status === 409) { setConflict({ theirs: answer.data.current, yours: text }); say(t("conflict")); return false; }
    if (!answer.ok) { say(answer.data ? answer.data.detail : t("failed")); return false; }
    setToken(answer.data.token); setSavedText(answer.data.text); setConflict(null);
    await reload(answer.data.text, t("saved"));
    return true;
  };
  const publish = async () => {
    // First the changes, drawn on the canvas and listed beside the YAML diff; publishing is confirmed there.
    if (!diff) { await showDiff(); say(t("review_first")); return; }
    if (doc.text !== savedText && !(await save())) return;
    const answer = await api.publish(doc.text);
    say(answer.ok ? `${t("published")} v${answer.data.version}` : (answer.data ? answer.data.detail : t("failed")));
    if (answer.ok) { setDiff(null); setPublishedAt(Date.now()); }
  };
  const restored = async (draft, message) => {
    // The restored version is the draft now: drawn, with its token; publishing it makes a new version.
    setToken(draft.token); setSavedText(draft.text); setDiff(null);
    await reload(draft.text, `${message}. ${t("restore_then_publish")}`);
  };
  const showDiff = async () => {
    if (doc.text !== savedText && !(await save())) return;
    const answer = await api.diff(key);
    if (answer.ok) { setDiff(answer.data); flow.fitView(); }
  };
  const layout = () => {
    const spots = autoLayout(doc.graph);
    apply(Object.entries(spots).map(([id, s]) => ({ op: "move", id, x: s.x, y: s.y })), t("laid_out"))
      .then(() => flow.fitView());
  };
  const find = (e) => {
    e.preventDefault();
    const hit = doc.graph.nodes.find((n) => n.id.includes(search));
    if (hit) { setSelected(hit.id); flow.fitView({ nodes: [{ id: hit.id }], duration: 0 }); say(`${t("found")} ${hit.id}`); }
    else say(t("not_found"));
  };
  const addAt = (kind, id, position) => {
    const nodeId = id || `${kind}_${doc.graph.nodes.length + 1}`;
    const ops = [{ op: "add_node", id: nodeId, kind }];
    if (position) ops.push({ op: "move", id: nodeId, x: position.x, y: position.y });
    apply(ops, `${t("added")} ${nodeId}`).then(() => setSelected(nodeId));
  };
  const onDrop = (e) => {
    e.preventDefault();
    const kind = e.dataTransfer.getData("application/x-touchflow-kind");
    if (!kind) return;
    addAt(kind, document.getElementById("tf-add-id").value.trim(), flow.screenToFlowPosition({ x: e.clientX, y: e.clientY }));
  };
  const onKey = (e) => {
    if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === "z") { e.preventDefault(); (e.shiftKey ? redo : undo)(); }
  };

  return (
    <div className="tf-builder" onKeyDown={onKey}>
      <div className="visually-hidden" aria-live="polite" role="status" data-announce>{announce}</div>
      <div className="tf-toolbar" role="toolbar" aria-label={t("toolbar")}>
        {canWrite && <button type="button" onClick={undo} disabled={!past.length}>{t("undo")}</button>}
        {canWrite && <button type="button" onClick={redo} disabled={!future.length}>{t("redo")}</button>}
        {canWrite && <button type="button" onClick={layout}>{t("auto_layout")}</button>}
        <button type="button" onClick={() => flow.fitView()}>{t("fit")}</button>
        <form onSubmit={find} className="tf-search">
          <label htmlFor="tf-search" className="visually-hidden">{t("search")}</label>
          <input id="tf-search" placeholder={t("search")} value={search} onChange={(e) => setSearch(e.target.value)} />
        </form>
        {canWrite && <button type="button" onClick={() => save()} disabled={doc.text === savedText} data-save>{t("save")}</button>}
        <button type="button" onClick={showDiff}>{t("diff")}</button>
        {canPublish && <button type="button" onClick={publish} disabled={errors.length > 0} data-publish>{t("publish")}</button>}
        <span className="tf-status" data-errors={errors.length}>{errors.length ? `${errors.length} ${t("errors")}` : t("no_errors")}</span>
      </div>
      <div className="tf-main">
        {canWrite && (
          <aside className="tf-palette" aria-label={t("palette")}>
            <h3>{t("palette")}</h3>
            <ul>
              {kinds.map((k) => (
                <li key={k} draggable onDragStart={(e) => e.dataTransfer.setData("application/x-touchflow-kind", k)}
                  data-palette={k} className="tf-palette-item">{t(`kind.${k}`)}</li>
              ))}
            </ul>
            <AddNode kinds={kinds} t={t} onAdd={(k, id) => addAt(k, id)} />
            <ClipboardPanel t={t} csrf={csrf} picked={picked} setPicked={setPicked} apply={apply} docRef={docRef} say={say}
              pasteOpen={pasteOpen} setPasteOpen={setPasteOpen} />
            <Connect graph={doc.graph} t={t}
              onConnect={(from, edge, to) => apply([{ op: "connect", from, edge, to }], `${t("connected")} ${from} → ${to}`)} />
          </aside>
        )}
        <div className="tf-canvas" onKeyDownCapture={onPickKey} onDrop={onDrop} onDragOver={(e) => e.preventDefault()} aria-label={t("canvas")} role="region">
          <ReactFlow nodes={nodes} edges={edges} nodeTypes={nodeTypes} fitView={fitOnLoad} minZoom={0.1}
            nodesDraggable={canWrite} nodesConnectable={canWrite} elementsSelectable
            deleteKeyCode={canWrite ? ["Delete", "Backspace"] : null}
            onNodeClick={(_, n) => setSelected(n.id)}
            multiSelectionKeyCode={["Shift", "Control", "Meta"]}
            onNodeDragStop={(_, n, dragged) => canWrite && apply(moveOps(dragged && dragged.length ? dragged : [n]), `${t("moved")} ${n.id}`)}
            onConnect={(c) => apply([{ op: "connect", from: c.source, edge: c.sourceHandle, to: c.target }], `${t("connected")} ${c.source} → ${c.target}`)}
            onNodesDelete={(gone) => { apply(deleteOps(gone), `${t("deleted")} ${gone.map((n) => n.id).join(", ")}`); setPicked([]); setSelected(null); }}
            onNodesChange={(changes) => {
              measured.record(changes);
              setPicked((p) => pickedAfter(p, changes));
              const moved = changes.find((c) => c.type === "position" && c.dragging);
              if (moved) setDoc((d) => ({ ...d, graph: { ...d.graph, nodes: d.graph.nodes.map((n) => n.id === moved.id ? { ...n, position: moved.position } : n),
                notes: (d.graph.notes || []).map((n) => `note:${n.id}` === moved.id ? { ...n, ...moved.position } : n) } }));
            }}>
            <MiniMap pannable zoomable ariaLabel={t("minimap")} />
            <Controls />
            <Background />
          </ReactFlow>
        </div>
        <aside className="tf-panel" aria-label={t("panel")}>
          {globalFindings.length > 0 && (
            <ul className="tf-findings" aria-label={t("findings")}>
              {globalFindings.map((f, i) => <li key={i} className={`tf-${f.severity}`}>{f.path}: {f.message}</li>)}
            </ul>
          )}
          <LivePanel journey={key} csrf={csrf} t={t} selected={selected} canAct={canPublish} live={live} setLive={setLive} say={say} />
          <DryRunPanel api={api} journey={key} t={t} docRef={docRef} graph={doc.graph} selected={selected}
            dry={dry} setDry={setDry} sim={sim} setSim={setSim} say={say} />
          {selectedNode && canWrite && selectedNode.kind === "send" && (
            <SendPanel key={selectedNode.id} node={selectedNode} schema={schema} t={t} csrf={csrf}
              onSet={(name, value) => apply([{ op: "set_field", node: selectedNode.id, path: [name], value }], `${t("changed")} ${selectedNode.id}.${name}`)} />
          )}
          {selectedNode && canWrite && (selectedNode.kind === "wait" || selectedNode.kind === "wait_event") && (
            <WaitPanel key={selectedNode.id} node={selectedNode} t={t}
              onSet={(name, value) => apply([{ op: "set_field", node: selectedNode.id, path: [name], value }], `${t("changed")} ${selectedNode.id}.${name}`)} />
          )}
          {selectedNode && canWrite && selectedNode.kind === "branch" && (
            <ConditionPanel key={selectedNode.id} node={selectedNode} t={t}
              onSetPath={(path, value) => apply([{ op: "set_field", node: selectedNode.id, path, value }], `${t("changed")} ${selectedNode.id}.${path.join(".")}`)} />
          )}
          {selectedNode && canWrite && (
            <NodePanel node={selectedNode} schema={schema} t={t}
              onSet={(name, value) => apply([{ op: "set_field", node: selectedNode.id, path: [name], value }], `${t("changed")} ${selectedNode.id}.${name}`)}
              onDelete={() => { apply([{ op: "delete_node", id: selectedNode.id }], `${t("deleted")} ${selectedNode.id}`); setSelected(null); }} />
          )}
          {canWrite && (
            <RulesPanel settings={doc.graph.settings} t={t}
              onSet={(path, value) => apply([{ op: "set_field", node: null, path, value }], `${t("changed")} ${path.join(".")}`)} />
          )}
          {canWrite && (
            <SettingsPanel settings={doc.graph.settings} schema={schema} t={t}
              onSet={(name, value) => apply([{ op: "set_field", node: null, path: [name], value }], `${t("changed")} ${name}`)} />
          )}
          {conflict && (
            <section className="tf-merge" aria-labelledby="tf-merge-h" data-merge>
              <h3 id="tf-merge-h">{t("conflict")}</h3>
              <label htmlFor="tf-theirs">{t("theirs")}</label>
              <textarea id="tf-theirs" readOnly value={conflict.theirs.text} rows={10} />
              <label htmlFor="tf-yours">{t("yours")}</label>
              <textarea id="tf-yours" value={conflict.yours} rows={10}
                onChange={(e) => setConflict({ ...conflict, yours: e.target.value })} />
              <button type="button" data-merge-save onClick={() => save(conflict.yours, conflict.theirs.token)}>{t("save_merged")}</button>
              <button type="button" onClick={() => { setToken(conflict.theirs.token); setSavedText(conflict.theirs.text); reload(conflict.theirs.text, t("took_theirs")); setConflict(null); }}>{t("take_theirs")}</button>
            </section>
          )}
          {diff && (
            <PublishDiff diff={diff} t={t} canPublish={canPublish} errors={errors.length} onPublish={publish}
              onClose={() => setDiff(null)} />
          )}
          <Versions api={api} journey={key} t={t} canWrite={canWrite} token={token} refresh={publishedAt}
            onRestored={restored} say={say} />
          <details>
            <summary>YAML</summary>
            <pre data-yaml>{doc.text}</pre>
          </details>
        </aside>
      </div>
    </div>
  );
}

export function App({ config }) {
  return <ReactFlowProvider><Builder config={config} /></ReactFlowProvider>;
}
