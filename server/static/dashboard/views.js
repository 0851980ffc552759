// The dashboard's views: each is one GraphQL document and one render function. A view whose root
// field this server's schema lacks (found by introspection) shows "not available on this server".

import { bucketLabel, dateLabel, decimal, integer, milliseconds, money, percent, change } from './format.js';
import { dataTable, el, horizontalBars, legend, lineChart, stackedBars } from './charts.js';

// Okabe-Ito colours: distinguishable with the common colour-vision deficiencies.
const BLUE = '#0072B2';
const ORANGE = '#E69F00';
const GREY = '#6b6b6b';
const PURPLE = '#882E72';

/** The key figures strip: which view fills each tile, where its value and change are read. */
export const FIGURES = [
  { key: 'conversations', label: 'Conversations', field: 'usage', name: 'totalConversations', format: integer },
  { key: 'active-users', label: 'Active users', field: 'usage', name: 'activeUsers', format: integer },
  { key: 'resolution-rate', label: 'Resolution rate', field: 'conversationMetrics', name: 'resolutionRate', format: percent },
  { key: 'escalation-rate', label: 'Escalation rate', field: 'conversationMetrics', name: 'escalationRate', format: percent },
  { key: 'fallback-rate', label: 'Fallback rate', field: 'conversationMetrics', name: 'fallbackRate', format: percent },
  { key: 'csat', label: 'CSAT', field: 'satisfaction', name: 'csat', format: percent },
  { key: 'durable-resolution-rate', label: 'Durable resolution', field: 'conversationOutcomes', name: 'durableResolutionRate', format: percent, compares: false },
  { key: 'p95-latency', label: 'p95 latency', field: 'performance', name: 'p95LatencyMs', format: milliseconds },
  { key: 'cost-per-resolved', label: 'Cost per resolved conversation', field: 'performance', name: 'costPerResolvedConversation', format: money },
];

const BASE_FIGURES = new Set(['usage', 'conversationMetrics', 'satisfaction']);

function figureSelections(fields, ctx, extra = {}) {
  return fields
    .map((field) => {
      const names = FIGURES.filter((f) => f.field === field).map((f) => f.name);
      const compared = FIGURES.filter((f) => f.field === field && f.compares !== false).map((f) => f.name);
      const changeSel = ctx.compare && compared.length ? ` change { ${compared.join(' ')} }` : '';
      return `  ${field}(filter: $filter) { ${[...(extra[field] || []), ...names].join(' ')}${changeSel} }`;
    })
    .join('\n');
}

function renderFigures(ctx, data, fields) {
  for (const figure of FIGURES) {
    if (!fields.includes(figure.field)) continue;
    const answer = data[figure.field];
    const tile = document.getElementById(`figure-${figure.key}`);
    tile.dataset.state = 'ready';
    tile.querySelector('.figure-value').textContent = figure.format(answer[figure.name]);
    const delta = tile.querySelector('.figure-change');
    const shown = ctx.compare && figure.compares !== false ? change(answer.change ? answer.change[figure.name] : null) : null;
    delta.textContent = shown ? shown.text : '';
    delta.dataset.direction = shown ? shown.direction : 'none';
  }
}

function emptyNote(body, text = 'No data in this range.') {
  body.replaceChildren(el('p', { class: 'empty' }, text));
}

function allZero(rows, keys) {
  return rows.every((row) => keys.every((k) => !row[k]));
}

export const VIEWS = [
  {
    id: 'figures',
    fields: ['usage', 'conversationMetrics', 'satisfaction'],
    document: (ctx) => `query KeyFigures($filter: AnalyticsFilter) {
${figureSelections([...BASE_FIGURES], ctx, { usage: ['range { start end timezone }', 'totalMessages'] })}
}`,
    render(_body, data, ctx) {
      renderFigures(ctx, data, [...BASE_FIGURES]);
      ctx.onRange(data.usage.range, data.usage.totalConversations === 0 && data.usage.totalMessages === 0);
    },
  },
  {
    id: 'insight-figures',
    fields: ['performance', 'conversationOutcomes'],
    optional: true,
    document: (ctx) => `query InsightFigures($filter: AnalyticsFilter) {
${figureSelections(['performance', 'conversationOutcomes'].filter((f) => ctx.caps.fields.has(f)), ctx)}
}`,
    render(_body, data, ctx) {
      renderFigures(ctx, data, Object.keys(data));
    },
  },
  {
    id: 'volume',
    fields: ['conversationVolume'],
    document: () => `query Volume($filter: AnalyticsFilter) {
  conversationVolume(filter: $filter) { groupBy data { bucketStart conversations messages } }
}`,
    render(body, data, ctx) {
      const { groupBy, data: rows } = data.conversationVolume;
      if (allZero(rows, ['conversations', 'messages'])) return emptyNote(body);
      const labels = rows.map((r) => bucketLabel(r.bucketStart, groupBy));
      const series = [
        { name: 'Conversations', values: rows.map((r) => r.conversations), colour: BLUE },
        { name: 'Messages', values: rows.map((r) => r.messages), colour: ORANGE, dash: '6 4' },
      ];
      body.replaceChildren(
        legend(series),
        lineChart(ctx.width(body), 220, labels, series, `Conversations and messages per ${groupBy.toLowerCase()}`),
        dataTable('Conversations and messages', ['Bucket', 'Conversations', 'Messages'], rows.map((r, i) => [labels[i], r.conversations, r.messages])),
      );
    },
  },
  {
    id: 'outcomes',
    fields: ['conversationResolution'],
    document: () => `query Outcomes($filter: AnalyticsFilter) {
  conversationResolution(filter: $filter) { data { bucketStart resolved escalated abandoned resolutionRate } }
}`,
    render(body, data, ctx) {
      const rows = data.conversationResolution.data;
      if (allZero(rows, ['resolved', 'escalated', 'abandoned'])) return emptyNote(body, 'No closed conversations in this range.');
      const labels = rows.map((r) => bucketLabel(r.bucketStart, ctx.groupBy));
      const series = [
        { name: 'Resolved', values: rows.map((r) => r.resolved), colour: BLUE, pattern: 'solid' },
        { name: 'Escalated', values: rows.map((r) => r.escalated), colour: ORANGE, pattern: 'hatch' },
        { name: 'Abandoned', values: rows.map((r) => r.abandoned), colour: GREY, pattern: 'dots' },
      ];
      body.replaceChildren(
        legend(series),
        stackedBars(ctx.width(body), 220, labels, series, 'Outcomes per bucket: resolved, escalated, abandoned'),
        dataTable(
          'Outcomes per bucket',
          ['Bucket', 'Resolved', 'Escalated', 'Abandoned', 'Resolution rate'],
          rows.map((r, i) => [labels[i], r.resolved, r.escalated, r.abandoned, percent(r.resolutionRate)]),
        ),
      );
    },
  },
  {
    id: 'satisfaction',
    fields: ['satisfaction'],
    document: () => `query Satisfaction($filter: AnalyticsFilter) {
  satisfaction(filter: $filter) { responses averageScore csat distribution { score count } }
}`,
    render(body, data) {
      const s = data.satisfaction;
      if (!s.responses) return emptyNote(body, 'No ratings in this range.');
      const rows = [...s.distribution].reverse().map((d) => ({
        label: `${d.score} ★`,
        value: d.count,
        text: `${d.count} (${percent(d.count / s.responses)})`,
      }));
      body.replaceChildren(
        el(
          'p',
          { class: 'summary' },
          el('strong', {}, `${decimal(s.averageScore)} / 5`),
          ` average of ${integer(s.responses)} ratings · CSAT ${percent(s.csat)}`,
        ),
        horizontalBars(rows, PURPLE),
      );
    },
  },
  {
    id: 'retention',
    fields: ['retention'],
    document: () => `query Retention($filter: AnalyticsFilter) {
  retention(filter: $filter) { groupBy cohorts { cohortStart size retention { period users rate } } }
}`,
    variables: (ctx) => ({ filter: { ...ctx.filter, groupBy: ctx.retentionGroupBy } }),
    render(body, data) {
      const { groupBy, cohorts: all } = data.retention;
      if (all.every((c) => !c.size)) return emptyNote(body, 'No new users in this range.');
      const cohorts = all.slice(-12);
      const periods = Math.min(12, Math.max(...cohorts.map((c) => c.retention.length)));
      const unit = groupBy === 'DAY' ? 'Day' : groupBy === 'MONTH' ? 'Month' : 'Week';
      const head = el(
        'tr',
        {},
        el('th', { scope: 'col' }, 'Cohort'),
        el('th', { scope: 'col' }, 'Users'),
        Array.from({ length: periods }, (_v, p) => el('th', { scope: 'col' }, `${unit} ${p}`)),
      );
      const rows = cohorts.map((c) =>
        el(
          'tr',
          {},
          el('th', { scope: 'row' }, dateLabel(c.cohortStart)),
          el('td', {}, integer(c.size)),
          Array.from({ length: periods }, (_v, p) => {
            const cell = c.retention[p];
            const td = el('td', { class: 'heat' }, cell ? percent(cell.rate) : '');
            if (cell && cell.rate !== null) {
              td.style.backgroundColor = `rgba(0, 114, 178, ${0.08 + 0.85 * cell.rate})`;
              if (cell.rate > 0.5) td.classList.add('dark');
              td.title = `${cell.users} of ${c.size} users`;
            }
            return td;
          }),
        ),
      );
      const note = all.length > cohorts.length ? el('p', { class: 'note' }, `The latest ${cohorts.length} of ${all.length} cohorts.`) : null;
      body.replaceChildren(...[el('div', { class: 'scroll' }, el('table', { class: 'heat-table' }, el('thead', {}, head), el('tbody', {}, rows))), note].filter(Boolean));
    },
  },
  {
    id: 'intents',
    fields: ['intents'],
    document: () => `query TopIntents($filter: AnalyticsFilter) {
  intents(filter: $filter, limit: 10) { messagesWithIntent data { intent messages fallbackRate escalationRate } }
}`,
    render(body, data) {
      const rows = data.intents.data;
      if (!rows.length) return emptyNote(body, 'No messages with an intent in this range.');
      body.replaceChildren(
        el(
          'div',
          { class: 'scroll' },
          el(
            'table',
            { class: 'plain' },
            el('thead', {}, el('tr', {}, ['Intent', 'Messages', 'Fallback rate', 'Escalation rate'].map((h) => el('th', { scope: 'col' }, h)))),
            el(
              'tbody',
              {},
              rows.map((r) =>
                el('tr', {}, el('th', { scope: 'row' }, r.intent), el('td', {}, integer(r.messages)), el('td', {}, percent(r.fallbackRate)), el('td', {}, percent(r.escalationRate))),
              ),
            ),
          ),
        ),
      );
    },
  },
  {
    id: 'latency',
    fields: ['performance'],
    document: () => `query LatencySeries($filter: AnalyticsFilter) {
  performance(filter: $filter) { groupBy latencyCount data { bucketStart p50LatencyMs p95LatencyMs } }
}`,
    render(body, data, ctx) {
      const p = data.performance;
      if (!p.latencyCount) return emptyNote(body, 'No bot message with a latency in this range.');
      const labels = p.data.map((r) => bucketLabel(r.bucketStart, p.groupBy));
      const series = [
        { name: 'p50', values: p.data.map((r) => r.p50LatencyMs), colour: BLUE },
        { name: 'p95', values: p.data.map((r) => r.p95LatencyMs), colour: ORANGE, dash: '6 4' },
      ];
      body.replaceChildren(
        legend(series),
        lineChart(ctx.width(body), 200, labels, series, 'Latency per bucket in milliseconds: p50 and p95'),
        dataTable('Latency', ['Bucket', 'p50', 'p95'], p.data.map((r, i) => [labels[i], milliseconds(r.p50LatencyMs), milliseconds(r.p95LatencyMs)])),
      );
    },
  },
  {
    id: 'models',
    fields: ['performance'],
    document: () => `query CostByModel($filter: AnalyticsFilter) {
  performance(filter: $filter) { cost byModel { model messages cost } }
}`,
    render(body, data) {
      const models = data.performance.byModel;
      if (!models.length) return emptyNote(body, 'No message names a model in this range.');
      const rows = models.map((m) => ({ label: m.model, value: m.cost, text: `${money(m.cost)} · ${integer(m.messages)} msgs` }));
      body.replaceChildren(el('p', { class: 'summary' }, `Total cost ${money(data.performance.cost)}`), horizontalBars(rows, BLUE));
    },
  },
];
