// The live feed: one WebSocket to /ws with snapshot + numbered deltas, resume and reconnect.
//
// The client tracks (epoch, seq). A delta is applied only when it is the next one of the same
// epoch; anything else means a message was lost, so the client drops its position and reconnects
// for a fresh snapshot rather than showing numbers that silently drifted.
//
// Access: the browser's cookie rides on the handshake. The server closes with 4401 when the
// caller is not (or no longer) signed in and 4403 when the role may not read status; neither
// gets better by reconnecting, so the connection stops and tells the page. A handshake the
// server refuses outright (HTTP 401) reaches the page only as an abnormal close, like a server
// that is down; the page's checkAccess() then asks the server who is signed in before retrying.
(function () {
  "use strict";

  const BACKOFF_START_MS = 500;
  const BACKOFF_MAX_MS = 15000;
  const CLOSE_UNAUTHENTICATED = 4401;
  const CLOSE_FORBIDDEN = 4403;

  function liveUrl() {
    const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
    return scheme + "//" + window.location.host + "/ws";
  }

  class LiveConnection {
    // handlers: onSnapshot(data), onDelta(changes), onStatus("connecting" | "open" | "closed"),
    //   onUnauthenticated(reason), onForbidden(reason),
    //   checkAccess() -> Promise<boolean> (optional: false = stop, the page takes over)
    constructor(handlers, url) {
      this.handlers = handlers;
      this.url = url || liveUrl();
      this.epoch = null;
      this.seq = null;
      this.socket = null;
      this.backoffMs = BACKOFF_START_MS;
      this.retryTimer = null;
      this.connected = false;
      this.stopped = false;
    }

    start() {
      this.stopped = false;
      this._open();
    }

    // No more reconnects (signed out, or not allowed): the page says why.
    stop() {
      this.stopped = true;
      clearTimeout(this.retryTimer);
      this._drop();
      this.connected = false;
    }

    _open() {
      clearTimeout(this.retryTimer);
      if (this.stopped) return;
      this.handlers.onStatus("connecting");
      const socket = new WebSocket(this.url);
      this.socket = socket;
      let opened = false;
      socket.onopen = () => {
        if (socket !== this.socket) return;
        opened = true;
        socket.send(JSON.stringify({ type: "hello", epoch: this.epoch, last_seq: this.seq }));
      };
      socket.onmessage = (event) => {
        if (socket !== this.socket) return;
        this._receive(event.data);
      };
      socket.onclose = (event) => {
        if (socket !== this.socket) return;
        this._closed(event, opened);
      };
      // An error is always followed by close; reconnecting happens there.
      socket.onerror = () => {};
    }

    _receive(raw) {
      let message;
      try {
        message = JSON.parse(raw);
      } catch (err) {
        console.warn("IOC live: unreadable message", err);
        return;
      }
      if (message.type === "snapshot") {
        this.epoch = message.epoch;
        this.seq = message.seq;
        this._markOpen();
        this.handlers.onSnapshot(message.data);
      } else if (message.type === "delta") {
        if (message.epoch !== this.epoch || this.seq === null || message.seq !== this.seq + 1) {
          console.warn("IOC live: out-of-order delta", this.epoch, this.seq, message.epoch, message.seq);
          this.resync();
          return;
        }
        this.seq = message.seq;
        this._markOpen();
        this.handlers.onDelta(message.data.changes);
      }
    }

    _markOpen() {
      this.backoffMs = BACKOFF_START_MS;
      if (!this.connected) {
        this.connected = true;
        this.handlers.onStatus("open");
      }
    }

    // Forget the position and reconnect: the server then answers hello with a snapshot.
    resync() {
      this.connected = false;
      this.epoch = null;
      this.seq = null;
      this._drop();
      this._open();
    }

    _drop() {
      const socket = this.socket;
      this.socket = null;
      if (socket) socket.close();
    }

    _closed(event, opened) {
      this.socket = null;
      this.connected = false;
      this.handlers.onStatus("closed");
      if (event.code === CLOSE_UNAUTHENTICATED || event.code === CLOSE_FORBIDDEN) {
        this.stop();
        if (event.code === CLOSE_UNAUTHENTICATED) this.handlers.onUnauthenticated(event.reason);
        else this.handlers.onForbidden(event.reason);
        return;
      }
      if (opened || !this.handlers.checkAccess) {
        this._retryLater();
        return;
      }
      // Never opened: the server is away, or it refused the handshake. Only it knows which.
      this.handlers.checkAccess().then(
        (allowed) => {
          if (allowed && !this.stopped) this._retryLater();
        },
        () => this._retryLater(),
      );
    }

    _retryLater() {
      if (this.stopped) return;
      // Jitter spreads the reconnects of many wall screens after a server restart.
      const delay = this.backoffMs * (0.75 + Math.random() * 0.5);
      this.backoffMs = Math.min(this.backoffMs * 2, BACKOFF_MAX_MS);
      this.retryTimer = setTimeout(() => this._open(), delay);
    }
  }

  window.IocLive = { LiveConnection, liveUrl };
})();
