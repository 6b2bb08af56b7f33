// The options form, built from the OpenAPI schema of a route's request body: each field with its
// description, choices, limits and default, so an option the service gains appears here unchanged.
// A field left at its default is not sent, so the request is exactly what a client would write by hand.

import { el } from "./dom.js";

// Fields this page fills itself (the pictures and the faces picked on them) or cannot offer (a reference
// photo of the person to find, where the result is delivered).
const PAGE_FIELDS = new Set(["source_index", "target_index", "swaps", "min_similarity"]);
const INPUT_FIELD = /_(url|urls|image|images|video)$/;

/** The request body schema of `POST path`, its references resolved; null when the route is absent. */
export function requestSchema(openapi, path) {
  const body = openapi?.paths?.[path]?.post?.requestBody?.content?.["application/json"]?.schema;
  return body ? resolve(openapi, body) : null;
}

function resolve(openapi, schema) {
  let current = schema;
  for (let depth = 0; current && depth < 16; depth += 1) {
    if (current.$ref) {
      const parts = current.$ref.replace(/^#\//, "").split("/");
      current = parts.reduce((node, part) => node?.[part], openapi);
    } else if (Array.isArray(current.allOf) && current.allOf.length === 1) {
      current = { ...current, ...current.allOf[0], allOf: undefined };
    } else {
      return current;
    }
  }
  return current;
}

/** The schema without its `null` alternative, and whether it had one. */
function unwrap(openapi, schema) {
  const options = schema.anyOf || schema.oneOf;
  if (!options) return { inner: resolve(openapi, schema), nullable: false };
  const rest = options.filter((option) => option.type !== "null");
  const nullable = rest.length < options.length;
  if (rest.length === 1) {
    const inner = resolve(openapi, rest[0]);
    return { inner: { ...inner, description: schema.description || inner.description }, nullable };
  }
  return { inner: { ...schema, anyOf: rest }, nullable };
}

export function humanize(name) {
  const words = name.replace(/_/g, " ");
  return words.charAt(0).toUpperCase() + words.slice(1);
}

function same(a, b) {
  return JSON.stringify(a) === JSON.stringify(b);
}

function shown(value) {
  if (value === null || value === undefined) return "none";
  if (Array.isArray(value)) return value.length ? value.join(", ") : "none";
  if (typeof value === "boolean") return value ? "on" : "off";
  return String(value);
}

/** The hint under a field: its description, its range and its default. */
function hint(id, schema, hasDefault) {
  const parts = [];
  if (schema.description) parts.push(schema.description);
  if (typeof schema.minimum === "number" && typeof schema.maximum === "number") {
    parts.push(`From ${schema.minimum} to ${schema.maximum}.`);
  }
  const text = parts.join(" ");
  const node = el("p", { id, class: "hint" }, text);
  if (hasDefault) node.append(" ", el("span", { class: "default" }, `Default: ${shown(schema.default)}.`));
  return node;
}

let counter = 0;
function fieldId(path) {
  counter += 1;
  return `opt-${path.join("-").replace(/[^A-Za-z0-9_-]/g, "")}-${counter}`;
}

function enumControl(id, inner, nullable, initial) {
  const values = inner.enum || (inner.const !== undefined ? [inner.const] : []);
  const select = el("select", { id });
  if (nullable) select.append(el("option", { value: "" }, "none"));
  values.forEach((value, index) => select.append(el("option", { value: String(index) }, String(value))));
  const position = values.findIndex((value) => same(value, initial));
  select.value = position >= 0 ? String(position) : nullable ? "" : "0";
  return { input: select, read: () => (select.value === "" ? null : values[Number(select.value)]) };
}

function numberStep(inner) {
  if (inner.type === "integer") return 1;
  if (typeof inner.multipleOf === "number") return inner.multipleOf;
  const span = inner.maximum - inner.minimum;
  return span <= 2 ? 0.05 : span <= 20 ? 0.1 : 1;
}

function numberControl(id, inner, initial) {
  const bounded = typeof inner.minimum === "number" && typeof inner.maximum === "number";
  const number = (text) => (inner.type === "integer" ? parseInt(text, 10) : parseFloat(text));
  if (!bounded) {
    const input = el("input", { id, type: "number", step: inner.type === "integer" ? "1" : "any" });
    if (typeof inner.minimum === "number") input.min = String(inner.minimum);
    if (typeof inner.maximum === "number") input.max = String(inner.maximum);
    if (initial !== undefined && initial !== null) input.value = String(initial);
    return { input, read: () => (input.value === "" ? undefined : number(input.value)) };
  }
  const range = el("input", { id, type: "range", min: String(inner.minimum), max: String(inner.maximum) });
  range.step = String(numberStep(inner));
  range.value = String(initial ?? inner.minimum);
  const output = el("output", { for: id, class: "value" }, range.value);
  range.addEventListener("input", () => { output.textContent = range.value; });
  const box = el("span", { class: "range" }, range, output);
  return { input: range, element: box, read: () => number(range.value) };
}

function checkboxGroup(id, name, inner, initial) {
  const values = inner.items.enum;
  const group = el("span", { id, class: "choices", role: "group" });
  const boxes = values.map((value) => {
    const box = el("input", { type: "checkbox", id: `${id}-${value}` });
    box.checked = Array.isArray(initial) && initial.includes(value);
    group.append(el("label", { class: "choice" }, box, ` ${value}`));
    return box;
  });
  return { input: group, read: () => values.filter((_, index) => boxes[index].checked) };
}

function tupleControl(id, name, inner, initial) {
  const count = inner.minItems;
  const items = inner.items || {};
  const group = el("span", { id, class: "tuple", role: "group" });
  const inputs = Array.from({ length: count }, (_, index) => {
    const input = el("input", { type: "number", step: "any", "aria-label": `${humanize(name)} ${index + 1} of ${count}` });
    if (typeof items.minimum === "number") input.min = String(items.minimum);
    if (typeof items.maximum === "number") input.max = String(items.maximum);
    input.value = String(Array.isArray(initial) ? initial[index] ?? "" : "");
    group.append(input);
    return input;
  });
  return { input: group, read: () => inputs.map((input) => parseFloat(input.value)) };
}

function jsonControl(id, initial) {
  const input = el("input", { id, type: "text", spellcheck: "false", placeholder: "JSON" });
  if (initial !== undefined && initial !== null) input.value = JSON.stringify(initial);
  const read = () => {
    if (input.value.trim() === "") return undefined;
    try {
      return JSON.parse(input.value);
    } catch {
      throw new Error(`${input.labels?.[0]?.textContent || "A field"} must be JSON.`);
    }
  };
  return { input, read };
}

/** The input for one plain (non-object) field; `read()` gives its value as JSON. */
function plainControl(id, name, inner, nullable, initial) {
  if (inner.enum || inner.const !== undefined) return enumControl(id, inner, nullable, initial);
  if (inner.type === "boolean") {
    const input = el("input", { id, type: "checkbox" });
    input.checked = Boolean(initial);
    return { input, read: () => input.checked };
  }
  if (inner.type === "integer" || inner.type === "number") return numberControl(id, inner, initial);
  if (inner.type === "array" && inner.items?.enum) return checkboxGroup(id, name, inner, initial);
  if (inner.type === "array" && inner.minItems && inner.minItems === inner.maxItems && inner.minItems <= 8) {
    return tupleControl(id, name, inner, initial);
  }
  if (inner.type === "string" && !inner.anyOf) {
    const input = el("input", { id, type: "text", spellcheck: "false" });
    if (typeof inner.maxLength === "number") input.maxLength = inner.maxLength;
    if (typeof initial === "string") input.value = initial;
    return { input, read: () => (input.value === "" ? undefined : input.value) };
  }
  return jsonControl(id, initial);
}

/**
 * One field: its label, control and hint. `read()` gives the value to send, or undefined to leave it out
 * (left at its default, and not required).
 */
function field(openapi, name, schema, path, required, remembered) {
  const { inner, nullable } = unwrap(openapi, schema);
  const hasDefault = "default" in schema || "default" in inner || nullable;
  const fallback = "default" in schema ? schema.default : "default" in inner ? inner.default : null;
  const id = fieldId(path);
  const hintId = `${id}-hint`;
  if (inner.type === "object" || inner.properties) {
    return objectField(openapi, name, inner, path, { nullable, required, remembered, hintId });
  }
  const key = path.join(".");
  const initial = remembered.has(key) ? remembered.get(key) : fallback;
  const control = plainControl(id, name, inner, nullable, initial);
  control.input.setAttribute("aria-describedby", hintId);
  // A group of inputs is named by a span (aria-labelledby); a single input by its <label>.
  const isGroup = control.input.getAttribute("role") === "group";
  const caption = [humanize(name), " ", el("code", {}, name)];
  const labelNode = isGroup
    ? el("span", { id: `${id}-label`, class: "label" }, ...caption)
    : el("label", { for: id, class: "label" }, ...caption);
  if (isGroup) control.input.setAttribute("aria-labelledby", `${id}-label`);
  const element = el("div", { class: "field", "data-field": key }, labelNode, control.element || control.input,
    hint(hintId, { ...inner, description: schema.description || inner.description, default: fallback }, hasDefault));
  const read = () => {
    const value = control.read();
    remembered.set(key, value);
    if (value === undefined) return undefined;
    return !required && hasDefault && same(value, fallback) ? undefined : value;
  };
  return { element, read };
}

function objectField(openapi, name, inner, path, { nullable, required, remembered, hintId }) {
  const key = path.join(".");
  const id = fieldId(path);
  const legend = el("legend", {}, humanize(name), " ", el("code", {}, name));
  const fieldset = el("fieldset", { class: "group", "data-field": key, "aria-describedby": hintId }, legend);
  fieldset.append(el("p", { id: hintId, class: "hint" }, inner.description || ""));
  let toggle = null;
  if (nullable && !required) {
    toggle = el("input", { id, type: "checkbox", "aria-controls": `${id}-fields` });
    toggle.checked = remembered.get(`${key}:on`) === true;
    fieldset.append(el("label", { for: id, class: "use" }, toggle, ` Use ${humanize(name).toLowerCase()}`));
  }
  const body = el("div", { id: `${id}-fields`, class: "group-fields" });
  const needed = new Set(inner.required || []);
  const children = Object.entries(inner.properties || {}).map(([childName, childSchema]) => {
    const child = field(openapi, childName, childSchema, [...path, childName], needed.has(childName), remembered);
    body.append(child.element);
    return child;
  });
  fieldset.append(body);
  const sync = () => {
    body.hidden = toggle ? !toggle.checked : false;
  };
  toggle?.addEventListener("change", sync);
  sync();
  const read = () => {
    if (toggle) remembered.set(`${key}:on`, toggle.checked);
    if (toggle && !toggle.checked) return undefined;
    const value = {};
    for (const [index, childName] of Object.keys(inner.properties || {}).entries()) {
      const childValue = children[index].read();
      if (childValue !== undefined) value[childName] = childValue;
    }
    return value;
  };
  return { element: fieldset, read };
}

/** The options of one request schema, rendered into `form`; values typed in are kept across renders. */
export class OptionsForm {
  constructor(form) {
    this.form = form;
    this.fields = [];
    this.remembered = new Map();
  }

  /** Renders `schema`'s fields, except those the page fills itself or cannot offer. */
  render(openapi, schema) {
    this.values();
    this.form.replaceChildren();
    const required = new Set(schema?.required || []);
    this.fields = Object.entries(schema?.properties || {})
      .filter(([name]) => !PAGE_FIELDS.has(name) && !INPUT_FIELD.test(name))
      .map(([name, fieldSchema]) => [name, field(openapi, name, fieldSchema, [name], required.has(name), this.remembered)]);
    for (const [, built] of this.fields) this.form.append(built.element);
    if (!this.fields.length) this.form.append(el("p", { class: "note" }, "This service offers no options here."));
  }

  /** The options that differ from their defaults, as the request's JSON fields. */
  values() {
    const result = {};
    for (const [name, built] of this.fields) {
      const value = built.read();
      if (value !== undefined) result[name] = value;
    }
    return result;
  }
}
