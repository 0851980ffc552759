// GraphQL over HTTP and over graphql-transport-ws. The credential lives in sessionStorage only:
// it is never put in a URL, never logged.

const STORAGE_KEY = 'bot-analytics.credential';

export const credential = {
  get: () => sessionStorage.getItem(STORAGE_KEY),
  set: (value) => sessionStorage.setItem(STORAGE_KEY, value.trim()),
  clear: () => sessionStorage.removeItem(STORAGE_KEY),
};

/** API keys issued by the service start with `ba_`; anything else is sent as a bearer JWT. */
export function authHeaders(value) {
  return value.startsWith('ba_') ? { 'X-API-Key': value } : { Authorization: `Bearer ${value}` };
}

export class AuthError extends Error {}

export class QueryError extends Error {
  constructor(message, code) {
    super(message);
    this.code = code;
  }
}

/** Run one document; UNAUTHENTICATED becomes an AuthError (sign in again), any other error a QueryError. */
export async function gql(query, variables = {}) {
  const value = credential.get();
  if (!value) throw new AuthError('Sign in to see the dashboard.');
  let response;
  try {
    response = await fetch('/graphql', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json', ...authHeaders(value) },
      body: JSON.stringify({ query, variables }),
    });
  } catch {
    throw new QueryError('The server cannot be reached.', 'NETWORK');
  }
  let body;
  try {
    body = await response.json();
  } catch {
    throw new QueryError(`The server answered ${response.status}.`, 'HTTP');
  }
  if (body.errors && body.errors.length) {
    const first = body.errors[0];
    const code = first.extensions ? first.extensions.code : undefined;
    if (code === 'UNAUTHENTICATED') throw new AuthError(first.message);
    throw new QueryError(first.message, code);
  }
  if (!response.ok || !body.data) {
    // Not a GraphQL answer: the contract's error body (a 429 of the rate limits, a 413...).
    throw new QueryError(body.message || `The server answered ${response.status}.`, body.error || 'HTTP');
  }
  return body.data;
}

const CAPABILITIES = `query Capabilities {
  __schema { queryType { fields { name } } }
  filter: __type(name: "AnalyticsFilter") { inputFields { name } }
}`;

/** What this server's schema offers: root query fields and filter fields, as sets of names. */
export async function capabilities() {
  const data = await gql(CAPABILITIES);
  return {
    fields: new Set(data.__schema.queryType.fields.map((f) => f.name)),
    filter: new Set((data.filter ? data.filter.inputFields : []).map((f) => f.name)),
  };
}

/**
 * One subscription over graphql-transport-ws that reconnects with exponential backoff (1 s, 2 s,
 * 4 s ... 30 s, with jitter). `onState(state, detail)`: connecting, live, reconnecting (detail: the
 * delay in ms), expired (4401), forbidden (4403), failed (an error message).
 */
export class LiveFeed {
  constructor(onData, onState) {
    this.onData = onData;
    this.onState = onState;
    this.socket = null;
    this.timer = null;
    this.attempt = 0;
  }

  start(query, variables) {
    this.stop();
    this.query = query;
    this.variables = variables;
    this.attempt = 0;
    this.connect();
  }

  stop() {
    clearTimeout(this.timer);
    const socket = this.socket;
    this.socket = null;
    if (socket && socket.readyState <= WebSocket.OPEN) socket.close(1000);
  }

  connect() {
    const value = credential.get();
    if (!value) return;
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const socket = new WebSocket(`${scheme}//${location.host}/graphql`, 'graphql-transport-ws');
    this.socket = socket;
    this.onState(this.attempt ? 'reconnecting' : 'connecting');
    socket.addEventListener('open', () => {
      socket.send(JSON.stringify({ type: 'connection_init', payload: authHeaders(value) }));
    });
    socket.addEventListener('message', (event) => {
      if (this.socket !== socket) return;
      const message = JSON.parse(event.data);
      if (message.type === 'connection_ack') {
        socket.send(
          JSON.stringify({ id: '1', type: 'subscribe', payload: { query: this.query, variables: this.variables } }),
        );
      } else if (message.type === 'next') {
        const errors = message.payload.errors;
        if (errors && errors.length) {
          this.onState('failed', errors[0].message);
        } else {
          this.attempt = 0;
          this.onState('live');
          this.onData(message.payload.data);
        }
      } else if (message.type === 'error') {
        this.onState('failed', message.payload[0] ? message.payload[0].message : 'subscription refused');
      } else if (message.type === 'ping') {
        socket.send(JSON.stringify({ type: 'pong' }));
      }
    });
    socket.addEventListener('close', (event) => {
      if (this.socket !== socket) return;
      this.socket = null;
      if (event.code === 4401) {
        this.onState('expired');
      } else if (event.code === 4403) {
        this.onState('forbidden');
      } else {
        const delay = Math.min(30000, 1000 * 2 ** this.attempt) * (0.75 + Math.random() / 4);
        this.attempt += 1;
        this.onState('reconnecting', delay);
        this.timer = setTimeout(() => this.connect(), delay);
      }
    });
  }
}
