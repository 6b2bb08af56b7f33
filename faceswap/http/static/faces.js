// Picking faces on a picture: each face /faces found becomes a numbered button over it, numbered as the
// service numbers them (from 1, left to right), so a click or Enter chooses what source_index and
// target_index say.

import { el } from "./dom.js";

export class FacePicker {
  /**
   * `container`: where the picture goes; `role`: "source" or "target" (for labels);
   * `onChange(selection)`: called after each pick.
   */
  constructor(container, role, onChange) {
    this.container = container;
    this.role = role;
    this.onChange = onChange;
    this.multiple = false;
    this.all = false;
    this.count = 0;
    this.selected = [];
    this.buttons = [];
  }

  /** Shows the picture at `url` with the boxes of `faces` (in the coordinates of a width x height image). */
  show(url, description, faces, width, height) {
    const image = el("img", { src: url, alt: description });
    const stage = el("div", { class: "stage" }, image);
    this.buttons = faces.map((face) => this.button(face, width, height));
    stage.append(...this.buttons);
    this.container.replaceChildren(stage);
    this.count = faces.length;
    this.all = false;
    this.selected = faces.length ? [1] : [];
    this.refresh();
  }

  clear() {
    this.container.replaceChildren();
    this.count = 0;
    this.selected = [];
    this.buttons = [];
  }

  button(face, width, height) {
    const [x1, y1, x2, y2] = face.bbox;
    const percent = (value, whole) => `${Math.min(100, Math.max(0, (value / whole) * 100))}%`;
    const button = el(
      "button",
      { type: "button", class: "face", "aria-pressed": "false", "aria-label": `${this.role} face ${face.index}` },
      el("span", { class: "face-number", "aria-hidden": "true" }, String(face.index)),
    );
    button.dataset.index = String(face.index);
    button.style.left = percent(x1, width);
    button.style.top = percent(y1, height);
    button.style.width = percent(x2 - x1, width);
    button.style.height = percent(y2 - y1, height);
    button.addEventListener("click", () => this.pick(face.index));
    return button;
  }

  /** Several faces may be chosen at once (a swap per face), or only one. */
  setMultiple(multiple) {
    this.multiple = multiple;
    if (!multiple && this.selected.length > 1) this.selected = this.selected.slice(0, 1);
    this.refresh();
  }

  pick(index) {
    this.all = false;
    if (!this.multiple) {
      this.selected = [index];
    } else if (this.selected.includes(index)) {
      if (this.selected.length > 1) this.selected = this.selected.filter((value) => value !== index);
    } else {
      this.selected = [...this.selected, index].sort((a, b) => a - b);
    }
    this.refresh();
    this.onChange(this.selection());
  }

  /** Every face (target_index "all"), or back to the faces picked before. */
  setAll(all) {
    this.all = all;
    this.refresh();
    this.onChange(this.selection());
  }

  /** "all", or the chosen face numbers (empty when the picture has no face). */
  selection() {
    return this.all ? "all" : [...this.selected];
  }

  refresh() {
    for (const button of this.buttons) {
      const on = this.all || this.selected.includes(Number(button.dataset.index));
      button.setAttribute("aria-pressed", String(on));
    }
  }
}
