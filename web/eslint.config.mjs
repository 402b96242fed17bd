// ESLint for the pages (web/js) and the field agent's app (edge/src): plain ES modules
// run by the browser, no build step. ESLint's recommended rules, the browser's globals.
// scripts/check runs it from the repository root (eslint's base path, so edge/src is in):
//   web/node_modules/.bin/eslint --config web/eslint.config.mjs web/js edge/src web/eslint.config.mjs
import js from "@eslint/js";
import globals from "globals";

export default [
  js.configs.recommended,
  {
    files: ["**/*.js"],
    languageOptions: {
      ecmaVersion: "latest",
      sourceType: "module",
      globals: { ...globals.browser },
    },
  },
];
