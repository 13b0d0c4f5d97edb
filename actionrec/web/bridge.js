/*
 * actionrec bridge: receives game events from the local actionrec server and turns each into a call on
 * the page: a window.Detect hook (onPunch / onKick / onStand, the 2018 article's interface) or, on an
 * MK.js page (mkjs.js loaded), a game move of fighter 0 (e.g. 'SPIN_KICK'). Served by actionrec at
 * /actionrec/bridge.js.
 *
 * - Reconnects by itself (250 ms, doubling up to 4 s) after the server drops or restarts.
 * - Hook map: class pattern -> target. '*' matches anything; 'punch/*' also matches a coarse-only
 *   model's 'punch'. The server's hello carries its defaults (hooks) and the user's entries
 *   (user_hooks). The best entry wins: the user's over the defaults, then one matching the fine class
 *   over one matching only the event's kind, then an exact pattern over a wildcard, then the longer
 *   pattern. A default whose target this page lacks (a game move on a page without a game) gives way
 *   to the next; a user's entry never does (it is reported as not run). A page may replace the whole
 *   map with window.ActionrecHooks = {...} (treated as the user's).
 * - Tells the server when the page can act ({type: 'page', ready, problem, detect, hooks, moves, ...}):
 *   on connect and whenever the game's state changes. An MK.js page is ready once its game has loaded
 *   and window.Detect exists; other pages are ready at once. The server starts the stream only then.
 * - Acknowledges every event ({type: 'ack', seq, hook, ran, move, reason, at}): hook is the target,
 *   ran whether it was called without error, move fighter 0's move afterwards (MK.js pages), reason why
 *   it did not run.
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

  var defaults = DEFAULT_HOOKS;
  var userHooks = {};
  var socket = null;
  var retryMs = FIRST_RETRY_MS;

  function emit(name, detail) {
    window.dispatchEvent(new CustomEvent('actionrec:' + name, { detail: detail }));
  }

  // '*' matches anything; 'punch/*' also matches a model's bare coarse class 'punch'.
  function matches(pattern, name) {
    if (typeof name !== 'string') return false;
    if (pattern.slice(-2) === '/*' && name === pattern.slice(0, -2)) return true;
    var parts = pattern.split('*').map(function (p) {
      return p.replace(/[.+?^${}()|[\]\\]/g, '\\$&');
    });
    return new RegExp('^' + parts.join('.*') + '$').test(name);
  }

  function isMove(target) {
    return /^[A-Z][A-Z0-9_]*$/.test(target);
  }

  function available(target) {
    if (isMove(target)) return !!(window.ActionrecGame && window.ActionrecGame.hasMove(target));
    return !!(window.Detect && typeof window.Detect[target] === 'function');
  }

  function entries() {
    var list = [];
    function add(map, user) {
      Object.keys(map || {}).forEach(function (pattern, order) {
        list.push({ pattern: pattern, target: map[pattern], user: user, order: order });
      });
    }
    if (window.ActionrecHooks) {
      add(window.ActionrecHooks, true);
    } else {
      add(userHooks, true);
      add(defaults, false);
    }
    return list;
  }

  // Larger is better: user over default, fine-class match over kind match, exact over wildcard, longer.
  function rank(entry, fineMatch) {
    var exact = entry.pattern.indexOf('*') < 0;
    return [entry.user ? 1 : 0, fineMatch ? 1 : 0, exact ? 1 : 0, entry.pattern.length, -entry.order];
  }

  function better(a, b) {
    for (var i = 0; i < a.length; i += 1) {
      if (a[i] !== b[i]) return a[i] > b[i];
    }
    return false;
  }

  // The target for an event ({kind, fine}), or null if no entry matches (or none the page can run).
  function hookFor(event) {
    var best = null;
    var bestRank = null;
    entries().forEach(function (entry) {
      var fine = matches(entry.pattern, event.fine);
      if (!fine && !matches(entry.pattern, event.kind)) return;
      if (!entry.user && !available(entry.target)) return;
      var r = rank(entry, fine);
      if (best === null || better(r, bestRank)) {
        best = entry;
        bestRank = r;
      }
    });
    return best ? best.target : null;
  }

  function send(message) {
    if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(message));
  }

  function currentMove() {
    return window.ActionrecGame ? window.ActionrecGame.current() : null;
  }

  function run(target) {
    if (target === null) return 'no hook mapped';
    if (isMove(target)) {
      if (!window.ActionrecGame) return 'no game on this page for move ' + target;
      if (!window.ActionrecGame.hasMove(target)) return 'the game has no move ' + target + ' (or is not ready)';
      window.ActionrecGame.move(target);
      return null;
    }
    var detect = window.Detect;
    if (!detect || typeof detect[target] !== 'function') return 'no window.Detect.' + target;
    detect[target]();
    return null;
  }

  function onGameEvent(event) {
    emit('event', event);
    var hook = hookFor(event);
    var reason;
    try {
      reason = run(hook);
    } catch (err) {
      reason = 'threw ' + err;
      console.error('actionrec: ' + hook + ' failed', err);
    }
    if (reason) console.warn('actionrec: ' + reason + ' for', event.fine || event.kind);
    var at = Date.now();
    var ack = { type: 'ack', seq: event.seq, hook: hook, ran: !reason, move: currentMove(), at: at };
    if (reason) ack.reason = reason;
    send(ack);
    emit('hook', Object.assign({}, event, { hook: hook, ran: !reason, move: ack.move, reason: reason || null, at: at }));
  }

  function pageState() {
    var game = window.ActionrecGame;
    var s = game ? game.state() : { ready: true, problem: null, detect: window.Detect ? 'page' : null };
    var detect = window.Detect || {};
    s.type = 'page';
    s.game = !!game;
    s.hooks = Object.keys(detect).filter(function (k) { return typeof detect[k] === 'function'; });
    s.moves = game && s.ready && window.mk && window.mk.moves ? Object.keys(window.mk.moves.types) : [];
    return s;
  }

  function reportPage() {
    send(pageState());
  }

  if (window.ActionrecGame) window.ActionrecGame.onChange(reportPage);

  function connect() {
    var scheme = location.protocol === 'https:' ? 'wss://' : 'ws://';
    var ws = new WebSocket(scheme + location.host + '/ws');
    socket = ws;
    ws.onopen = function () {
      retryMs = FIRST_RETRY_MS;
      emit('status', { connected: true });
      reportPage();
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
      if (msg.type === 'hello') {
        if (msg.hooks) defaults = msg.hooks;
        userHooks = msg.user_hooks || {};
      }
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
    pageState: pageState,
    connected: function () {
      return socket !== null && socket.readyState === WebSocket.OPEN;
    }
  };
  connect();
})();
