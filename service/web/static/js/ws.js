// A WebSocket that reconnects with backoff and says when its data may no longer be current.

const CLOSE_POLICY = 1008; // not logged in / not allowed
const CLOSE_UNKNOWN_BED = 4404;

export class LiveSocket {
  /**
   * @param {string} path e.g. "/ws/beds"
   * @param {{onMessage?: Function, onBinary?: Function, onStatus?: Function, staleAfterMs?: number}} handlers
   * onStatus(status, detail): "connecting" | "live" | "stale" (open but silent) | "lost" | "unauthorized" | "gone"
   */
  constructor(path, { onMessage, onBinary, onStatus, staleAfterMs = 0 } = {}) {
    this.path = path;
    this.onMessage = onMessage || (() => {});
    this.onBinary = onBinary || (() => {});
    this.onStatus = onStatus || (() => {});
    this.staleAfterMs = staleAfterMs;
    this.attempt = 0;
    this.stopped = false;
    this.status = null;
  }

  start() {
    this.stopped = false;
    this.connect();
    return this;
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    clearTimeout(this.staleTimer);
    if (this.ws) this.ws.close(1000, 'page left');
  }

  setStatus(status, detail) {
    if (this.status === status && status !== 'lost') return;
    this.status = status;
    this.onStatus(status, detail);
  }

  connect() {
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    this.setStatus('connecting');
    const ws = new WebSocket(`${scheme}//${location.host}${this.path}`);
    ws.binaryType = 'blob';
    this.ws = ws;
    ws.onopen = () => {
      this.attempt = 0;
    };
    ws.onmessage = (event) => {
      this.setStatus('live');
      this.armStaleTimer();
      if (typeof event.data === 'string') {
        let message;
        try {
          message = JSON.parse(event.data);
        } catch {
          return;
        }
        this.onMessage(message);
      } else {
        this.onBinary(event.data);
      }
    };
    ws.onclose = (event) => {
      clearTimeout(this.staleTimer);
      if (this.stopped || ws !== this.ws) return;
      if (event.code === CLOSE_POLICY) return this.setStatus('unauthorized', event.reason);
      if (event.code === CLOSE_UNKNOWN_BED) return this.setStatus('gone', event.reason);
      const delay = Math.min(15000, 500 * 2 ** this.attempt) * (0.75 + Math.random() * 0.5);
      this.attempt += 1;
      this.setStatus('lost', { retryInMs: delay });
      this.retryTimer = setTimeout(() => this.connect(), delay);
    };
  }

  armStaleTimer() {
    if (!this.staleAfterMs) return;
    clearTimeout(this.staleTimer);
    this.staleTimer = setTimeout(() => this.setStatus('stale'), this.staleAfterMs);
  }
}
