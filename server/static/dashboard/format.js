// Numbers as the reports print them (API.md section 8): integers without separators, rates as
// percentages with one decimal, averages with two decimals. Dates from the server's own RFC 3339
// strings, which already carry the offset of the chosen time zone: no conversion in the browser.

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/**
 * `x.toFixed(digits)` as Python's `f"{x:.{digits}f}"` writes it, which is what the reports print: both
 * round the exact binary value, but on an exact tie (81.25 to one decimal) toFixed goes away from
 * zero (81.3) and Python to the even neighbour (81.2).
 */
export function fixed(x, digits) {
  const plain = x.toFixed(digits);
  const exact = x.toFixed(Math.min(100, digits + 60));
  const cut = exact.indexOf('.') + 1 + digits;
  if (!/^50*$/.test(exact.slice(cut))) return plain;
  const truncated = exact.slice(0, digits ? cut : cut - 1);
  return Number(truncated.slice(-1)) % 2 === 0 ? truncated : plain;
}

export function integer(value) {
  return value === null || value === undefined ? '—' : String(Math.round(value));
}

export function percent(rate) {
  return rate === null || rate === undefined ? '—' : `${fixed(rate * 100, 1)}%`;
}

export function decimal(value, digits = 2) {
  return value === null || value === undefined ? '—' : fixed(value, digits);
}

export function milliseconds(value) {
  return value === null || value === undefined ? '—' : `${fixed(value, 0)} ms`;
}

/** A cost: two decimals, four below 1 (a cost per conversation is often a fraction of a cent). */
export function money(value) {
  if (value === null || value === undefined) return '—';
  return fixed(value, Math.abs(value) < 1 ? 4 : 2);
}

/** A relative change as the key figures show it: an arrow and a sign, never colour alone. */
export function change(fraction) {
  if (fraction === null || fraction === undefined) return { text: 'no comparison', direction: 'none' };
  const pct = fixed(fraction * 100, 1);
  if (Number(pct) === 0) return { text: '= 0.0% vs previous period', direction: 'flat' };
  const up = fraction > 0;
  return { text: `${up ? '▲ +' : '▼ '}${pct}% vs previous period`, direction: up ? 'up' : 'down' };
}

/** "2025-03-01T14:00:00+01:00" -> parts read as written (the zone's wall clock). */
function parts(stamp) {
  return {
    year: Number(stamp.slice(0, 4)),
    month: Number(stamp.slice(5, 7)),
    day: Number(stamp.slice(8, 10)),
    time: stamp.slice(11, 16),
  };
}

/** A bucket's label for its size: "14:00" for hours, "Mar 1" for days and weeks, "Mar 2025" for months. */
export function bucketLabel(stamp, groupBy) {
  const p = parts(stamp);
  if (groupBy === 'HOUR') return p.time;
  if (groupBy === 'MONTH') return `${MONTHS[p.month - 1]} ${p.year}`;
  return `${MONTHS[p.month - 1]} ${p.day}`;
}

export function dateLabel(stamp) {
  const p = parts(stamp);
  return `${MONTHS[p.month - 1]} ${p.day}, ${p.year}`;
}

export function timeLabel(stamp) {
  return parts(stamp).time + ':' + stamp.slice(17, 19);
}
