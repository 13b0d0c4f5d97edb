/*
 * actionrec bridge: receives game events from the local actionrec server and calls the MK.js hooks
 * window.Detect.onPunch() / onKick() / onStand(). Served by actionrec at /actionrec/bridge.js.
 *
 * - Reconnects by itself (250 ms, doubling up to 4 s) after the server drops or restarts.
 * - Hook map: fine class pattern -> hook name, first match wins ('*' matches anything; 'punch/*'
 *   also matches a coarse-only model's 'punch'). The server sends its map on connect; a page may
 *   override it with window.ActionrecHooks = {...}.
 * - Acknowledges every event ({type: 'ack', seq, hook, ran}) so the server can measure
 *   capture-to-hook latency.
 * - ActionrecBridge.send(message) sends a JSON message to the server (the record page's buttons use it;
 *   dropped while disconnected).
 * - Re-dispatches what it receives as window events for pages that show it: 'actionrec:status',
 *   'actionrec:hello', 'actionrec:event', 'actionrec:hook', 'actionrec:probs', 'actionrec:frame'
 *   (a JPEG Blob), 'actionrec:stats', 'actionrec:end'.
 */
(function () {
  'use strict';

  var DEFAULT_HOOKS = { 'punch/*': 'onPunch', 'kick/*': 'onKick', 'stand': 'onStand' };
  var FIRST_RETRY_MS = 250;
  var MAX_RETRY_MS = 4000;

  var hooks = DEFAULT_HOOKS;
  var socket = null;
  var retryMs = FIRST_RETRY_MS;

  function emit(name, detail) {
    window.dispatchEvent(new CustomEvent('actionrec:' + name, { detail: detail }));
  }

  // '*' matches anything; 'punch/*' also matches a model's bare coarse class 'punch'.
  function matches(pattern, name) {
    if (pattern.slice(-2) === '/*' && name === pattern.slice(0, -2)) return true;
    var parts = pattern.split('*').map(function (p) {
      return p.replace(/[.+?^${}()|[\]\\]/g, '\\$&');
    });
    return new RegExp('^' + parts.join('.*') + '$').test(name);
  }

  function hookFor(event) {
    var map = window.ActionrecHooks || hooks;
    for (var pattern in map) {
      if (matches(pattern, event.fine) || matches(pattern, event.kind)) return map[pattern];
    }
    return null;
  }

  function send(message) {
    if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(message));
  }

  function onGameEvent(event) {
    emit('event', event);
    var hook = hookFor(event);
    var detect = window.Detect;
    var ran = false;
    if (hook && detect && typeof detect[hook] === 'function') {
      try {
        detect[hook]();
        ran = true;
      } catch (err) {
        console.error('actionrec: Detect.' + hook + ' failed', err);
      }
    } else {
      console.warn('actionrec: no window.Detect.' + hook + ' for', event.fine || event.kind);
    }
    var at = Date.now();
    send({ type: 'ack', seq: event.seq, hook: hook, ran: ran, at: at });
    emit('hook', Object.assign({}, event, { hook: hook, ran: ran, at: at }));
  }

  function connect() {
    var scheme = location.protocol === 'https:' ? 'wss://' : 'ws://';
    var ws = new WebSocket(scheme + location.host + '/ws');
    socket = ws;
    ws.onopen = function () {
      retryMs = FIRST_RETRY_MS;
      emit('status', { connected: true });
    };
    ws.onmessage = function (message) {
      if (typeof message.data !== 'string') {
        emit('frame', message.data);
        return;
      }
      var msg = JSON.parse(message.data);
      if (msg.type === 'event') {
        onGameEvent(msg);
        return;
      }
      if (msg.type === 'hello' && msg.hooks) hooks = msg.hooks;
      emit(msg.type, msg);
    };
    ws.onclose = function () {
      if (socket === ws) socket = null;
      emit('status', { connected: false, retryMs: retryMs });
      setTimeout(connect, retryMs);
      retryMs = Math.min(retryMs * 2, MAX_RETRY_MS);
    };
  }

  window.ActionrecBridge = {
    hookFor: hookFor,
    send: send,
    connected: function () {
      return socket !== null && socket.readyState === WebSocket.OPEN;
    }
  };
  connect();
})();
