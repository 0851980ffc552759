// Small SVG charts drawn by the page itself (no chart library): lines, stacked bars, horizontal bars.
// Series are told apart by colour (Okabe-Ito, safe for colour-blind readers) and also by a second
// channel: line dash, bar pattern and a labelled legend. Every mark has a <title> for its value.

const SVG_NS = 'http://www.w3.org/2000/svg';
let uid = 0;

/** An HTML element: el('td', {class: 'n'}, 'text', child). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value !== undefined && value !== null && value !== false) node.setAttribute(key, value);
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined) node.append(child);
  }
  return node;
}

function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  for (const child of children.flat()) if (child) node.append(child);
  return node;
}

function titled(node, text) {
  node.append(svg('title', {}, text));
  return node;
}

/** A round axis maximum above `value` (1, 2, 2.5 or 5 times a power of ten). */
function niceMax(value) {
  if (!(value > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 2.5, 5, 10]) if (step * power >= value) return step * power;
  return 10 * power;
}

function frame(width, height, label) {
  return svg('svg', {
    width,
    height,
    viewBox: `0 0 ${width} ${height}`,
    role: 'img',
    'aria-label': label,
    class: 'chart',
  });
}

const PAD = { left: 44, right: 12, top: 12, bottom: 28 };

function axes(root, width, height, max, labels, format) {
  const plotH = height - PAD.top - PAD.bottom;
  for (let i = 0; i <= 4; i += 1) {
    const y = PAD.top + plotH - (plotH * i) / 4;
    root.append(svg('line', { x1: PAD.left, x2: width - PAD.right, y1: y, y2: y, class: 'grid' }));
    const text = svg('text', { x: PAD.left - 6, y: y + 4, class: 'tick', 'text-anchor': 'end' });
    text.textContent = format((max * i) / 4);
    root.append(text);
  }
  const plotW = width - PAD.left - PAD.right;
  const every = Math.max(1, Math.ceil((labels.length * 64) / plotW));
  labels.forEach((label, i) => {
    if (i % every !== 0) return;
    const x = PAD.left + (plotW * (i + 0.5)) / labels.length;
    const text = svg('text', { x, y: height - 8, class: 'tick', 'text-anchor': 'middle' });
    text.textContent = label;
    root.append(text);
  });
}

function shortNumber(value) {
  if (value >= 1e6) return `${(value / 1e6).toFixed(1)}M`;
  if (value >= 1e4) return `${(value / 1e3).toFixed(0)}k`;
  return Number.isInteger(value) ? String(value) : value.toFixed(1);
}

/** Lines over buckets. series: [{name, values (numbers or null), colour, dash}]. */
export function lineChart(width, height, labels, series, label) {
  const root = frame(width, height, label);
  const max = niceMax(Math.max(0, ...series.flatMap((s) => s.values.filter((v) => v !== null))));
  axes(root, width, height, max, labels, shortNumber);
  const plotW = width - PAD.left - PAD.right;
  const plotH = height - PAD.top - PAD.bottom;
  const x = (i) => PAD.left + (plotW * (i + 0.5)) / labels.length;
  const y = (v) => PAD.top + plotH - (plotH * v) / max;
  for (const s of series) {
    let path = '';
    let pen = 'M';
    s.values.forEach((v, i) => {
      if (v === null) {
        pen = 'M';
        return;
      }
      path += `${pen}${x(i).toFixed(1)},${y(v).toFixed(1)} `;
      pen = 'L';
    });
    root.append(svg('path', { d: path, class: 'line', stroke: s.colour, 'stroke-dasharray': s.dash || 'none' }));
    if (labels.length <= 48) {
      s.values.forEach((v, i) => {
        if (v === null) return;
        const mark = svg('circle', { cx: x(i), cy: y(v), r: 3, fill: s.colour, class: 'point' });
        root.append(titled(mark, `${labels[i]}: ${s.name} ${shortNumber(v)}`));
      });
    }
  }
  return root;
}

/** Pattern fills: solid, diagonal hatch, dots (a second channel besides colour). */
function patterns(root, fills) {
  const defs = svg('defs');
  const ids = fills.map((fill) => {
    uid += 1;
    const id = `pattern-${uid}`;
    const pattern = svg('pattern', { id, width: 6, height: 6, patternUnits: 'userSpaceOnUse' });
    pattern.append(svg('rect', { width: 6, height: 6, fill: fill.colour }));
    if (fill.pattern === 'hatch') {
      pattern.setAttribute('patternTransform', 'rotate(45)');
      pattern.append(svg('rect', { width: 2, height: 6, fill: '#fff', 'fill-opacity': 0.55 }));
    } else if (fill.pattern === 'dots') {
      pattern.append(svg('circle', { cx: 3, cy: 3, r: 1.3, fill: '#fff', 'fill-opacity': 0.7 }));
    }
    defs.append(pattern);
    return `url(#${id})`;
  });
  root.append(defs);
  return ids;
}

/** Stacked bars over buckets. series: [{name, values, colour, pattern}]. */
export function stackedBars(width, height, labels, series, label) {
  const root = frame(width, height, label);
  const fills = patterns(root, series);
  const totals = labels.map((_l, i) => series.reduce((sum, s) => sum + s.values[i], 0));
  const max = niceMax(Math.max(0, ...totals));
  axes(root, width, height, max, labels, shortNumber);
  const plotW = width - PAD.left - PAD.right;
  const plotH = height - PAD.top - PAD.bottom;
  const slot = plotW / labels.length;
  const barW = Math.max(1, slot * 0.72);
  labels.forEach((bucket, i) => {
    let base = 0;
    series.forEach((s, k) => {
      const v = s.values[i];
      if (!v) return;
      const h = (plotH * v) / max;
      const yTop = PAD.top + plotH - (plotH * base) / max - h;
      const bar = svg('rect', {
        x: PAD.left + slot * i + (slot - barW) / 2,
        y: yTop,
        width: barW,
        height: Math.max(0.5, h),
        fill: fills[k],
        class: 'bar',
      });
      root.append(titled(bar, `${bucket}: ${s.name} ${v}`));
      base += v;
    });
  });
  return root;
}

/** A legend whose swatches repeat each series' colour and its line dash or pattern. */
export function legend(series) {
  const items = series.map((s) => {
    const swatch = svg('svg', { width: 22, height: 12, 'aria-hidden': 'true' });
    if (s.pattern !== undefined) {
      const [fill] = patterns(swatch, [s]);
      swatch.append(svg('rect', { width: 22, height: 12, fill, stroke: s.colour }));
    } else {
      swatch.append(
        svg('line', { x1: 1, x2: 21, y1: 6, y2: 6, stroke: s.colour, 'stroke-width': 3, 'stroke-dasharray': s.dash || 'none' }),
      );
    }
    return el('li', {}, swatch, ` ${s.name}`);
  });
  return el('ul', { class: 'legend' }, items);
}

/** Horizontal bars with their label and value written out. rows: [{label, value, text}]. */
export function horizontalBars(rows, colour) {
  const max = Math.max(1, ...rows.map((r) => r.value));
  return el(
    'div',
    { class: 'hbars' },
    rows.map((r) => {
      const bar = el('span', { class: 'hbar-fill' });
      bar.style.width = `${(100 * r.value) / max}%`;
      bar.style.backgroundColor = colour;
      return el(
        'div',
        { class: 'hbar' },
        el('span', { class: 'hbar-label' }, r.label),
        el('span', { class: 'hbar-track' }, bar),
        el('span', { class: 'hbar-value' }, r.text),
      );
    }),
  );
}

/** A data table beside a chart ("Show as table"): the same numbers, for reading and for keyboards. */
export function dataTable(caption, headers, rows) {
  return el(
    'details',
    { class: 'as-table' },
    el('summary', {}, 'Show as table'),
    el(
      'div',
      { class: 'scroll' },
      el(
        'table',
        {},
        el('caption', { class: 'visually-hidden' }, caption),
        el('thead', {}, el('tr', {}, headers.map((h) => el('th', { scope: 'col' }, h)))),
        el('tbody', {}, rows.map((row) => el('tr', {}, row.map((cell) => el('td', {}, String(cell)))))),
      ),
    ),
  );
}
