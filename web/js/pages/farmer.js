// The farmer's page (being written).
import { h, replace } from "../ui.js";
export function render(root) {
  replace(root, h("h1", {}, "My insurance"));
}
