// The dashboard: sign-in, the controls, and running every view for the chosen range, zone and bot.

import { AuthError, LiveFeed, capabilities, credential, gql } from './api.js';
import { el } from './charts.js';
import { FIGURES, VIEWS } from './views.js';
import { decimal, integer, timeLabel } from './format.js';

const $ = (id) => document.getElementById(id);
const state = { caps: null, generation: 0, cache: new Map(), markedFigures: false };
const params = new URLSearchParams(location.search);
const LIVE_INTERVAL = Math.min(60, Math.max(1, Number(params.get('interval')) || 5));
const live = new LiveFeed(renderLive, liveState);

// ------------------------------------------------------------------ sign-in

/** A link from `bot-analytics dev` or `token --dashboard` carries `#token=...`: keep it, strip it. */
function tokenFromFragment() {
  const fragment = new URLSearchParams(location.hash.slice(1));
  const token = fragment.get('token');
  if (token) {
    credential.set(token);
    history.replaceState(null, '', location.pathname + location.search);
  }
}

function showSignIn(message) {
  live.stop();
  credential.clear();
  $('dashboard').hidden = true;
  $('sign-out').hidden = true;
  $('signin').hidden = false;
  $('signin-message').textContent = message || '';
  $('signin-message').hidden = !message;
  $('credential').value = '';
  $('credential').focus();
}

function expired() {
  showSignIn('Your sign-in has expired or was revoked. Sign in again to continue.');
}

// ------------------------------------------------------------------ controls -> filter

function localDate(offsetDays = 0) {
  const d = new Date(Date.now() + offsetDays * 86400000);
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
}

/** The filter, bucket size and retention bucket for the range picker's choice. */
function rangeFilter() {
  const range = $('range').value;
  const days = { '7d': 7, '30d': 30, '90d': 90 }[range];
  if (range === 'today') return { filter: { period: 'TODAY' }, groupBy: 'HOUR', spanDays: 1 };
  if (range === 'month') return { filter: { period: 'MONTH' }, groupBy: 'DAY', spanDays: 31 };
  if (days) return { filter: { days }, groupBy: 'DAY', spanDays: days };
  const start = $('start-date').value;
  const end = $('end-date').value;
  const spanDays = Math.round((Date.parse(end) - Date.parse(start)) / 86400000) + 1;
  const groupBy = spanDays <= 1 ? 'HOUR' : spanDays <= 90 ? 'DAY' : 'WEEK';
  return { filter: { startDate: start, endDate: end }, groupBy, spanDays };
}

function context() {
  const { filter, groupBy, spanDays } = rangeFilter();
  const full = { ...filter, groupBy, timezone: $('timezone').value };
  if ($('bot').value) full.botId = $('bot').value;
  const compare = $('compare').checked && state.caps.filter.has('compare');
  if (compare) full.compare = 'PREVIOUS_PERIOD';
  return {
    filter: full,
    groupBy,
    retentionGroupBy: spanDays <= 14 ? 'DAY' : 'WEEK',
    compare,
    caps: state.caps,
    width: (body) => Math.max(260, body.clientWidth),
    onRange: showRange,
  };
}

function showRange(range, empty) {
  const first = range.start.slice(0, 10);
  const last = localEnd(range.end);
  $('range-echo').textContent = `${first === last ? first : `${first} to ${last}`} · ${range.timezone}`;
  $('empty-range').hidden = !empty;
}

function localEnd(endStamp) {
  // The range is [start, end): its last day is the day before `end` when `end` is a midnight.
  const day = new Date(`${endStamp.slice(0, 10)}T00:00:00Z`);
  if (endStamp.slice(11, 19) === '00:00:00') day.setUTCDate(day.getUTCDate() - 1);
  return day.toISOString().slice(0, 10);
}

// ------------------------------------------------------------------ views

function available(view) {
  return view.fields.some((f) => state.caps.fields.has(f));
}

function cardOf(view) {
  return document.querySelector(`[data-view="${view.id}"]`);
}

function setFiguresLoading(fields) {
  for (const figure of FIGURES) {
    if (!fields.includes(figure.field)) continue;
    const tile = $(`figure-${figure.key}`);
    if (!state.caps.fields.has(figure.field)) {
      tile.dataset.state = 'unavailable';
      tile.querySelector('.figure-value').textContent = '—';
      tile.querySelector('.figure-change').textContent = 'not available on this server';
    } else {
      tile.dataset.state = 'loading';
    }
  }
}

async function runView(view, ctx, generation) {
  const card = cardOf(view);
  const body = card ? card.querySelector('.card-body') : null;
  if (view.id === 'figures' || view.id === 'insight-figures') setFiguresLoading(view.fields);
  if (!available(view)) {
    if (card) {
      card.dataset.state = 'unavailable';
      body.replaceChildren(el('p', { class: 'empty' }, 'Not available on this server.'));
      card.dataset.generation = String(generation);
    }
    return;
  }
  if (card) card.dataset.state = 'loading';
  const variables = view.variables ? view.variables(ctx) : { filter: ctx.filter };
  try {
    const data = await gql(view.document(ctx), variables);
    if (generation !== state.generation) return;
    state.cache.set(view.id, { data, ctx });
    view.render(body, data, ctx);
    if (card) card.dataset.state = 'ready';
    if (view.id === 'figures' && !state.markedFigures) {
      state.markedFigures = true;
      performance.mark('key-figures');
    }
  } catch (error) {
    if (generation !== state.generation) return;
    if (error instanceof AuthError) {
      expired();
      return;
    }
    if (card) {
      card.dataset.state = 'error';
      body.replaceChildren(el('p', { class: 'error', role: 'alert' }, error.message));
    } else {
      for (const figure of FIGURES.filter((f) => view.fields.includes(f.field))) {
        const tile = $(`figure-${figure.key}`);
        tile.dataset.state = 'error';
        tile.querySelector('.figure-change').textContent = error.message;
      }
    }
  } finally {
    if (card && generation === state.generation) card.dataset.generation = String(generation);
  }
}

/** Whether the range picker names a range (a custom one needs both dates, in order). */
function rangeReady() {
  const custom = $('range').value === 'custom';
  $('custom-range').hidden = !custom;
  if (custom && !($('start-date').value && $('end-date').value && $('start-date').value <= $('end-date').value)) {
    $('range-echo').textContent = 'Choose a start date on or before the end date.';
    return false;
  }
  return true;
}

function nextGeneration() {
  state.generation += 1;
  document.body.dataset.generation = String(state.generation);
  document.body.dataset.loaded = 'false';
  return state.generation;
}

async function runAll(views, ctx, generation, running = []) {
  await Promise.all([...running, ...views.map((view) => runView(view, ctx, generation))]);
  if (generation === state.generation) document.body.dataset.loaded = String(generation);
}

async function refresh() {
  if (state.booting) {
    state.refreshAfterBoot = true; // the capabilities are not known yet: boot runs it
    return;
  }
  if (!rangeReady()) return;
  await runAll(VIEWS, context(), nextGeneration());
}

function rerenderCharts() {
  for (const view of VIEWS) {
    const cached = state.cache.get(view.id);
    const card = cardOf(view);
    if (cached && card && card.dataset.state === 'ready') view.render(card.querySelector('.card-body'), cached.data, cached.ctx);
  }
}

// ------------------------------------------------------------------ live tile

const LIVE_DOCUMENT = `subscription Live($interval: Int!, $botId: String, $timezone: String) {
  realtime(intervalSeconds: $interval, botId: $botId, timezone: $timezone) {
    asOf windowMinutes activeSessions activeUsers messagesPerMinute conversationsStarted
  }
}`;

function startLive() {
  live.start(LIVE_DOCUMENT, { interval: LIVE_INTERVAL, botId: $('bot').value || null, timezone: $('timezone').value });
}

function renderLive(data) {
  const r = data.realtime;
  const card = $('card-live');
  card.dataset.pushes = String(Number(card.dataset.pushes || 0) + 1);
  $('live-sessions').textContent = integer(r.activeSessions);
  $('live-mpm').textContent = decimal(r.messagesPerMinute);
  $('live-users').textContent = integer(r.activeUsers);
  $('live-started').textContent = integer(r.conversationsStarted);
  $('live-asof').textContent = `last ${r.windowMinutes} minutes, as of ${timeLabel(r.asOf)}`;
}

function liveState(status, detail) {
  const card = $('card-live');
  card.dataset.state = status;
  const text = {
    connecting: 'Connecting…',
    live: 'Live',
    reconnecting: detail ? `Reconnecting in ${Math.ceil(detail / 1000)} s…` : 'Reconnecting…',
    forbidden: 'This credential may not read realtime data.',
    failed: detail || 'The live feed failed.',
  }[status];
  if (status === 'expired') {
    expired();
    return;
  }
  $('live-status').textContent = text;
}

// ------------------------------------------------------------------ start

async function loadBots() {
  const select = $('bot');
  const keep = select.value;
  select.replaceChildren(el('option', { value: '' }, 'All bots'));
  if (!state.caps.fields.has('bots')) return;
  const { bots } = await gql('query Bots { bots }');
  for (const bot of bots) select.append(el('option', { value: bot }, bot));
  select.value = bots.includes(keep) ? keep : '';
  select.disabled = false;
}

function fillTimezones() {
  const select = $('timezone');
  const mine = Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
  const zones = typeof Intl.supportedValuesOf === 'function' ? Intl.supportedValuesOf('timeZone') : [];
  const names = ['UTC', ...new Set([mine, ...zones])].filter((z, i, all) => all.indexOf(z) === i);
  select.replaceChildren(...names.map((z) => el('option', { value: z }, z)));
  select.value = mine;
}

/** The fields every server has: enough to ask for the key figures before the introspection answers. */
const BASE_CAPS = { fields: new Set(['usage', 'conversationMetrics', 'satisfaction']), filter: new Set() };

async function boot() {
  $('signin').hidden = true;
  $('dashboard').hidden = false;
  $('sign-out').hidden = false;
  // The key figures need nothing from the capabilities (their fields are in every schema, the compare
  // toggle is off): they are asked for at once, beside the introspection, not after it.
  const early = rangeReady() && !$('compare').checked;
  let generation = 0;
  let running = [];
  if (early) {
    state.caps = BASE_CAPS;
    generation = nextGeneration();
    running = [runView(VIEWS[0], context(), generation)];
  }
  state.booting = true;
  state.refreshAfterBoot = false;
  try {
    state.caps = await capabilities();
    const canCompare = state.caps.filter.has('compare');
    $('compare').disabled = !canCompare;
    $('compare-note').hidden = canCompare;
  } catch (error) {
    if (error instanceof AuthError) return expired();
    $('range-echo').textContent = error.message;
    return;
  } finally {
    state.booting = false;
  }
  startLive();
  // The bot list arrives beside the first answers: the figures do not wait for it.
  const bots = loadBots().catch((error) => {
    if (error instanceof AuthError) return expired();
    $('range-echo').textContent = error.message;
  });
  if (!early || state.refreshAfterBoot || generation !== state.generation) {
    await Promise.all([refresh(), bots]);
    return;
  }
  await Promise.all([runAll(VIEWS.slice(1), context(), generation, running), bots]);
}

function wire() {
  $('signin-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const value = $('credential').value.trim();
    if (!value) return;
    credential.set(value);
    boot();
  });
  $('sign-out').addEventListener('click', () => showSignIn('Signed out.'));
  for (const id of ['range', 'compare', 'start-date', 'end-date']) $(id).addEventListener('change', refresh);
  for (const id of ['bot', 'timezone']) {
    $(id).addEventListener('change', () => {
      startLive();
      refresh();
    });
  }
  let resizeTimer;
  window.addEventListener('resize', () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(rerenderCharts, 150);
  });
  $('start-date').value = localDate(-6);
  $('end-date').value = localDate(0);
}

wire();
fillTimezones();
tokenFromFragment();
if (credential.get()) boot();
else showSignIn('');
