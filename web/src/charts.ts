// Charts and trees drawn as SVG.
import { svg } from "./dom";
import type { D } from "./api";

export interface Bar {
  label: string;
  /** Stacked parts, bottom first, one per series. */
  parts: number[];
}

/** barChart draws stacked bars, one per label, with the series named in a legend. */
export function barChart(title: string, series: string[], bars: Bar[]): SVGElement {
  // The legend wraps into rows above the plot (about 6 px a character at 10 px).
  const width = 720,
    left = 48,
    bottom = 36;
  const legend: SVGElement[] = [];
  let lx = left,
    ly = 4;
  series.forEach((name, s) => {
    const w = 14 + name.length * 6 + 14;
    if (lx + w > width && lx > left) {
      lx = left;
      ly += 16;
    }
    legend.push(svg("g", {}, svg("rect", { x: lx, y: ly, width: 10, height: 10, class: `series-${s}` }), svg("text", { x: lx + 14, y: ly + 9, class: "axis" }, name)));
    lx += w;
  });
  const top = ly + 24,
    height = top + 196;
  const max = Math.max(1, ...bars.map((b) => b.parts.reduce((a, c) => a + c, 0)));
  const plotH = height - bottom - top;
  const step = bars.length ? (width - left - 8) / bars.length : 0;
  const bw = Math.max(1, step * 0.8);
  const labelEvery = Math.max(1, Math.ceil(bars.length / 12));
  const nodes: SVGElement[] = [];
  bars.forEach((b, i) => {
    let y = height - bottom;
    const x = left + i * step + (step - bw) / 2;
    b.parts.forEach((v, s) => {
      if (v <= 0) return;
      const bh = (v / max) * plotH;
      y -= bh;
      nodes.push(svg("rect", { x, y, width: bw, height: bh, class: `series-${s}` }, svg("title", {}, `${b.label} ${series[s]}: ${v}`)));
    });
    if (i % labelEvery === 0) {
      nodes.push(svg("text", { x: x + bw / 2, y: height - bottom + 14, "text-anchor": "middle", class: "axis" }, b.label));
    }
  });
  return svg(
    "svg",
    { viewBox: `0 0 ${width} ${height}`, class: "chart", role: "img", "aria-label": title },
    svg("title", {}, title),
    svg("line", { x1: left, y1: height - bottom, x2: width, y2: height - bottom, class: "axis-line" }),
    svg("text", { x: left - 6, y: top + 4, "text-anchor": "end", class: "axis" }, String(max)),
    svg("text", { x: left - 6, y: height - bottom, "text-anchor": "end", class: "axis" }, "0"),
    nodes,
    legend,
    bars.length ? null : svg("text", { x: width / 2, y: height / 2, "text-anchor": "middle", class: "axis" }, "no data in this window"),
  );
}

interface TreeNode {
  node: D["v1ExplainNode"];
  children: TreeNode[];
  x: number;
  depth: number;
}

function fmt(n: number | undefined): string {
  const v = n ?? 0;
  return Number.isInteger(v) ? String(v) : v.toFixed(3).replace(/0+$/, "");
}

/**
 * strategyTree draws an explanation's strategy as a tree: each node shows its
 * operation or objective, its value, and its cap when it has one. Paths are
 * "" for the root and "strategy[1].strategy[0]" below it.
 */
export function strategyTree(nodes: D["v1ExplainNode"][]): SVGElement {
  const byPath = new Map<string, TreeNode>();
  let root: TreeNode | undefined;
  for (const n of nodes) {
    const path = n.path ?? "";
    const t: TreeNode = { node: n, children: [], x: 0, depth: path ? path.split(".").length : 0 };
    byPath.set(path, t);
    if (!path) root = t;
    else byPath.get(path.includes(".") ? path.slice(0, path.lastIndexOf(".")) : "")?.children.push(t);
  }
  if (!root) return svg("svg", { class: "tree", role: "img", "aria-label": "empty strategy" });
  const boxW = 150,
    boxH = 54,
    gapX = 20,
    gapY = 46;
  let next = 0;
  const place = (t: TreeNode): void => {
    if (!t.children.length) {
      t.x = next++;
      return;
    }
    t.children.forEach(place);
    t.x = (t.children[0].x + t.children[t.children.length - 1].x) / 2;
  };
  place(root);
  const depth = Math.max(...[...byPath.values()].map((t) => t.depth));
  const width = Math.max(1, next) * (boxW + gapX) + gapX;
  const height = (depth + 1) * (boxH + gapY) + gapX;
  const cx = (t: TreeNode) => gapX + t.x * (boxW + gapX) + boxW / 2;
  const cy = (t: TreeNode) => gapX + t.depth * (boxH + gapY);
  const parts: SVGElement[] = [];
  for (const t of byPath.values()) {
    for (const c of t.children) {
      parts.push(svg("line", { x1: cx(t), y1: cy(t) + boxH, x2: cx(c), y2: cy(c), class: "edge" }));
    }
  }
  for (const t of byPath.values()) {
    const n = t.node;
    const name = n.objectiveId ? `objective ${n.objectiveId}` : `${n.operation || "sum"}`;
    const detail = [n.goal ? `cap ${fmt(n.goal)}` : "", n.uncapped !== undefined && n.uncapped !== n.value ? `uncapped ${fmt(n.uncapped)}` : ""]
      .filter(Boolean)
      .join(" · ");
    parts.push(
      svg(
        "g",
        { class: "node" + (n.objectiveId ? " leaf" : ""), "data-path": n.path ?? "", "data-value": fmt(n.value) },
        svg("rect", { x: cx(t) - boxW / 2, y: cy(t), width: boxW, height: boxH, rx: 6 }),
        svg("text", { x: cx(t), y: cy(t) + 16, "text-anchor": "middle", class: "name" }, name),
        svg("text", { x: cx(t), y: cy(t) + 34, "text-anchor": "middle", class: "value" }, fmt(n.value)),
        svg("text", { x: cx(t), y: cy(t) + 48, "text-anchor": "middle", class: "detail" }, detail),
      ),
    );
  }
  return svg("svg", { viewBox: `0 0 ${width} ${height}`, width, height, class: "tree", role: "img", "aria-label": "strategy tree with each node's value" }, parts);
}
