// Deterministic build: fixed file names (no hashes), one IIFE, no source maps, so `.ci/run` can compare the
// committed bundle with a fresh build byte for byte.
import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

export default defineConfig({
  plugins: [react()],
  define: { "process.env.NODE_ENV": JSON.stringify("production") },
  build: {
    outDir: "../../src/touchflow/console/static/builder",
    emptyOutDir: true,
    sourcemap: false,
    minify: "esbuild",
    cssCodeSplit: false,
    lib: { entry: "src/main.jsx", formats: ["iife"], name: "TouchflowBuilder", fileName: () => "builder.js" },
    rollupOptions: { output: { assetFileNames: "builder.[ext]" } },
  },
});
