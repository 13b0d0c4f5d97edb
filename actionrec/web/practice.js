/*
 * The practice page: shows what actionrec sees and does, and stands in for MK.js. Its window.Detect
 * records every hook call (window.detectCalls) so tests can check what the game would have received.
 */
(function () {
  'use strict';

  var $ = function (id) { return document.getElementById(id); };
  var bars = {};
  var lastPicture = null;

  window.detectCalls = [];  // {hook, at} in call order
  window.hookLog = [];  // what bridge.js reported after each hook: seq, kind, fine, prob, t, captured_at, at

  function record(hook) {
    return function () {
      window.detectCalls.push({ hook: hook, at: Date.now() });
      $('move').textContent = hook.replace(/^on/, '').toUpperCase();
      $('move').className = 'flash ' + hook;
      setTimeout(function () { $('move').className = ''; }, 300);
    };
  }
  window.Detect = { onPunch: record('onPunch'), onKick: record('onKick'), onStand: record('onStand') };

  function buildBars(classes) {
    var root = $('bars');
    root.textContent = '';
    bars = {};
    classes.forEach(function (name, i) {
      var row = document.createElement('div');
      row.className = 'bar ' + name.split('/')[0];
      row.innerHTML = '<span class="name"></span><span class="track"><span class="fill"></span></span>' +
        '<span class="value"></span>';
      row.querySelector('.name').textContent = name;
      root.appendChild(row);
      bars[i] = row;
    });
  }

  addEventListener('actionrec:status', function (e) {
    var s = $('status');
    s.textContent = e.detail.connected ? 'connected' : 'reconnecting in ' + e.detail.retryMs + ' ms';
    s.className = e.detail.connected ? 'online' : 'offline';
  });
  addEventListener('actionrec:hello', function (e) {
    buildBars(e.detail.classes || []);
    $('stats').textContent = 'source: ' + (e.detail.source || '?');
  });
  addEventListener('actionrec:probs', function (e) {
    e.detail.probs.forEach(function (p, i) {
      if (!bars[i]) return;
      bars[i].querySelector('.fill').style.width = (100 * p).toFixed(1) + '%';
      bars[i].querySelector('.value').textContent = p.toFixed(2);
    });
  });
  addEventListener('actionrec:frame', function (e) {
    if (lastPicture) URL.revokeObjectURL(lastPicture);
    lastPicture = URL.createObjectURL(e.detail);
    $('camera').src = lastPicture;
  });
  addEventListener('actionrec:hook', function (e) {
    var d = e.detail;
    window.hookLog.push(d);
    var item = document.createElement('li');
    item.className = d.kind;
    item.textContent = d.t.toFixed(2) + ' s  ' + d.kind + '  ' + d.fine + '  ' + d.prob.toFixed(2) +
      '  -> ' + (d.ran ? d.hook + '()' : 'no hook');
    $('log').insertBefore(item, $('log').firstChild);
  });
  addEventListener('actionrec:stats', function (e) { $('stats').textContent = e.detail.line; });
  addEventListener('actionrec:end', function (e) {
    $('stats').textContent = 'source ended: ' + e.detail.message;
  });
})();
