// Mounts the builder on #journey-builder; its configuration (key, CSRF token, permissions, the journey
// schema and the translated labels) comes from a JSON script block the console's template writes.
import React from "react";
import { createRoot } from "react-dom/client";
import "@xyflow/react/dist/style.css";
import "./builder.css";
import { App } from "./App.jsx";

const root = document.getElementById("journey-builder");
const source = document.getElementById("journey-builder-config");
if (root && source) {
  const config = JSON.parse(source.textContent);
  createRoot(root).render(<App config={config} />);
}
