/*
 * actionrec's MK.js adapter: makes an unmodified MK.js game/index.html playable by actionrec.
 * Served at /actionrec/mkjs.js and injected (in memory) as the page's first script, so that it runs
 * before src/mk.js and before the page's inline script.
 *
 * - Answers the page's prompt() questions with '' until the game starts: upstream index.html asks
 *   "host?" and "game name?" for its network game, which needs a socket.io server we do not run.
 * - Wraps mk.start (by catching the assignment window.mk = mk) and starts a game type that needs no
 *   server and no camera: 'network' becomes 'basic', and so does 'webcaminput' when movement.js (the
 *   2013 getUserMedia reader) is loaded. The 2018 article's build has a 'webcaminput' without
 *   movement.js that defines window.Detect itself: it is kept.
 * - Once the game is ready (images loaded, mk.game.fighters present), defines window.Detect with the
 *   article's meaning if the page defined none: onPunch = HIGH_PUNCH, onKick = LOW_KICK,
 *   onStand = STAND, on mk.game.fighters[0].
 * - Game moves (ActionrecGame.move('SPIN_KICK')) call fighters[0].setMove(mk.moves.types.SPIN_KICK).
 * - Keeps the fighters within reach: fighter 0 walks (the game's WALK) towards the opponent while it
 *   stands out of reach and stops once in reach. The fighters start 420 px apart and a hit needs about
 *   one body width (67 px): a camera player has no way to walk towards the opponent, so without this
 *   no attack ever lands. window.ActionrecGameOptions = {approach: false} turns it off.
 *
 * window.ActionrecGame.state() says what happened ({ready, problem, gameType, requested, detect});
 * bridge.js reports it to the server, and the server starts the stream once ready is true.
 */
(function () {
  'use strict';

  var LOAD_GRACE_MS = 3000;  // after the load event, how long the game may take to call mk.start
  var APPROACH_EVERY_MS = 50;  // a WALK step is 80 ms: check reach more often than it moves

  var state = { ready: false, problem: null, gameType: null, requested: null, detect: null };
  var realPrompt = window.prompt;
  var mkValue;
  var started = false;
  var listeners = [];

  function log(text) {
    console.info('actionrec: ' + text);
  }

  function setProblem(text) {
    if (state.problem) return;
    state.problem = text;
    console.error('actionrec: ' + text);
    notify();
  }

  function notify() {
    var snapshot = api.state();
    listeners.forEach(function (fn) { fn(snapshot); });
    window.dispatchEvent(new CustomEvent('actionrec:game', { detail: snapshot }));
  }

  window.prompt = function (question) {
    log('answered prompt(' + JSON.stringify(String(question)) + ') with "" (the network game is not played)');
    return '';
  };

  function restorePrompt() {
    if (window.prompt !== realPrompt) window.prompt = realPrompt;
  }

  // The game type to play instead of the one the page asks for.
  function playableType(asked) {
    if (asked === 'network') return 'basic';
    if (asked === 'webcaminput' && typeof window.Movement !== 'undefined') return 'basic';
    return asked;
  }

  function wrapStart(mk) {
    if (!mk || typeof mk.start !== 'function' || mk.start.actionrec) return;
    var start = mk.start;
    var wrapped = function (options) {
      started = true;
      restorePrompt();
      options = options || {};
      var asked = String(options.gameType || 'basic').toLowerCase();
      var type = playableType(asked);
      state.requested = asked;
      state.gameType = type;
      if (type !== asked) log("game type '" + asked + "' -> '" + type + "' (no server, no camera)");
      var changed = {};
      for (var key in options) changed[key] = options[key];
      changed.gameType = type;
      var promise = start.call(this, changed);
      if (promise && typeof promise.ready === 'function') {
        promise.ready(onGameReady);
      } else {
        setProblem('mk.start returned no promise with ready(); is this MK.js?');
      }
      return promise;
    };
    wrapped.actionrec = true;
    mk.start = wrapped;
  }

  try {
    Object.defineProperty(window, 'mk', {
      configurable: true,
      enumerable: true,
      get: function () { return mkValue; },
      set: function (value) { mkValue = value; wrapStart(value); }
    });
  } catch (err) {
    setProblem('cannot watch window.mk (' + err + ')');
  }

  function game() {
    return mkValue && mkValue.game;
  }

  function fighters() {
    var g = game();
    return g && g.fighters && g.fighters.length >= 2 ? g.fighters : null;
  }

  function moveType(name) {
    var types = mkValue && mkValue.moves && mkValue.moves.types;
    return types && Object.prototype.hasOwnProperty.call(types, name) ? types[name] : null;
  }

  function setMove(name) {
    var f = fighters();
    var type = moveType(name);
    if (!f || !type) return false;
    f[0].setMove(type);
    return true;
  }

  function defineDetect() {
    if (window.Detect) {
      state.detect = 'page';
      return;
    }
    window.Detect = {
      onPunch: function () { setMove('HIGH_PUNCH'); },
      onKick: function () { setMove('LOW_KICK'); },
      onStand: function () { setMove('STAND'); }
    };
    state.detect = 'actionrec';
    log('the page defines no window.Detect: using the article\'s hooks on mk.game.fighters[0]');
  }

  // The game's own rule (Base.prototype._requiredDistance) when it has one.
  function inReach(f) {
    var g = game();
    if (g && typeof g._requiredDistance === 'function') return g._requiredDistance(f[0], f[1]);
    var a = f[0].getX() + f[0].getWidth() / 2;
    var b = f[1].getX() + f[1].getWidth() / 2;
    return Math.abs(a - b) <= f[1].getWidth();
  }

  function approach() {
    var options = window.ActionrecGameOptions || {};
    if (options.approach === false) return;
    var types = mkValue.moves.types;
    setInterval(function () {
      var f = fighters();
      if (!f) return;
      var mine = f[0].getMove() && f[0].getMove().type;
      var theirs = f[1].getMove() && f[1].getMove().type;
      var close = inReach(f);
      if (mine === types.WALK && close) {
        f[0].setMove(types.STAND);
      } else if (mine === types.STAND && !close && theirs === types.STAND && f[0].getLife() > 0) {
        f[0].setMove(types.WALK);
      }
    }, APPROACH_EVERY_MS);
  }

  function onGameReady() {
    if (!fighters()) {
      setProblem('the game started but mk.game.fighters is missing');
      return;
    }
    defineDetect();
    approach();
    state.ready = true;
    log('game ready (' + state.gameType + ', Detect from ' + state.detect + ')');
    notify();
  }

  window.addEventListener('load', function () {
    setTimeout(function () {
      if (state.ready || state.problem) return;
      restorePrompt();
      if (!mkValue) {
        setProblem('the page loaded but defined no window.mk: is src/mk.js missing, or a build step needed?');
      } else if (!started) {
        setProblem('the page loaded but never called mk.start()');
      }
      // Started but not ready: the images are still loading; readiness comes when they are.
    }, LOAD_GRACE_MS);
  });

  var api = {
    state: function () {
      return {
        ready: state.ready, problem: state.problem, gameType: state.gameType,
        requested: state.requested, detect: state.detect
      };
    },
    onChange: function (fn) { listeners.push(fn); },
    // A game move by its mk.moves.types key, e.g. 'HIGH_KICK'.
    hasMove: function (name) { return state.ready && moveType(name) !== null; },
    move: setMove,
    // fighters[0]'s current move (e.g. 'high-kick'), or null before the game is ready.
    current: function () {
      var f = fighters();
      return f && f[0].getMove() ? f[0].getMove().type : null;
    },
    lives: function () {
      var f = fighters();
      return f ? [f[0].getLife(), f[1].getLife()] : null;
    }
  };
  window.ActionrecGame = api;
})();
