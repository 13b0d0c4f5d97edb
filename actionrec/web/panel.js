/*
 * The readouts beside a game page (MK.js): camera picture, class probabilities, the last event and
 * what the game did with it, and the live figures. Injected with bridge.js into a served game page;
 * placed in MK.js's empty "Webcam" column (#webcam-parent) when there is one, else fixed at the right.
 * Everything it adds is prefixed actionrec- so it cannot clash with the game's ids and styles.
 */
(function () {
  'use strict';

  var panel = document.createElement('aside');
  panel.id = 'actionrec-panel';
  panel.innerHTML =
    '<div class="actionrec-head"><b>actionrec</b> <span id="actionrec-status">connecting&hellip;</span></div>' +
    '<img id="actionrec-camera" alt="camera picture from the actionrec server">' +
    '<div id="actionrec-last">waiting for the first move</div>' +
    '<div id="actionrec-bars"></div>' +
    '<div id="actionrec-warning"></div>' +
    '<div id="actionrec-framing"></div>' +
    '<div id="actionrec-stats"></div>';
  var slot = document.getElementById('webcam-parent');
  if (slot) {
    slot.appendChild(panel);
  } else {
    panel.className = 'actionrec-floating';
    document.body.appendChild(panel);
  }

  var $ = function (id) { return document.getElementById('actionrec-' + id); };
  var bars = [];
  var lastPicture = null;

  window.actionrecHooks = [];  // every hook the bridge ran (or could not), for tests and curious users

  function buildBars(classes) {
    var root = $('bars');
    root.textContent = '';
    bars = classes.map(function (name) {
      var row = document.createElement('div');
      row.className = 'actionrec-bar actionrec-' + name.split('/')[0];
      row.innerHTML = '<span class="actionrec-name"></span><span class="actionrec-track">' +
        '<span class="actionrec-fill"></span></span><span class="actionrec-value"></span>';
      row.querySelector('.actionrec-name').textContent = name;
      root.appendChild(row);
      return row;
    });
  }

  addEventListener('actionrec:status', function (e) {
    $('status').textContent = e.detail.connected ? 'connected' : 'reconnecting\u2026';
    $('status').className = e.detail.connected ? 'actionrec-online' : 'actionrec-offline';
  });
  addEventListener('actionrec:hello', function (e) { buildBars(e.detail.classes || []); });
  addEventListener('actionrec:game', function (e) {
    if (e.detail.problem) $('warning').textContent = e.detail.problem;
  });
  addEventListener('actionrec:probs', function (e) {
    e.detail.probs.forEach(function (p, i) {
      if (!bars[i]) return;
      bars[i].querySelector('.actionrec-fill').style.width = (100 * p).toFixed(1) + '%';
      bars[i].querySelector('.actionrec-value').textContent = p.toFixed(2);
    });
  });
  addEventListener('actionrec:frame', function (e) {
    if (lastPicture) URL.revokeObjectURL(lastPicture);
    lastPicture = URL.createObjectURL(e.detail);
    $('camera').src = lastPicture;
  });
  addEventListener('actionrec:hook', function (e) {
    var d = e.detail;
    window.actionrecHooks.push(d);
    var last = $('last');
    last.className = 'actionrec-' + d.kind;
    last.textContent = d.t.toFixed(2) + ' s  ' + d.fine + ' ' + d.prob.toFixed(2) + '  \u2192  ' +
      (d.ran ? d.hook + (d.move ? ' (' + d.move + ')' : '') : 'nothing: ' + d.reason);
    $('warning').textContent = d.ran ? '' : d.reason;
  });
  addEventListener('actionrec:stats', function (e) { $('stats').textContent = e.detail.line; });
  addEventListener('actionrec:framing', function (e) { $('framing').textContent = e.detail.message; });
  addEventListener('actionrec:end', function (e) { $('stats').textContent = 'source ended: ' + e.detail.message; });
})();
