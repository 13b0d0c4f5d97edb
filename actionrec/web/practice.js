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
    if ('pose' in e.detail) drawPose(e.detail.pose);
  });

  // The skeleton of a pose model over the camera picture. The server sends BlazePose's 33 landmarks as
  // [x, y, visibility] with x, y in 0..1 of the picture (null: nobody found); a canvas laid over the
  // <img> draws them at its displayed size. Bones: BlazePose's body connections (face left out).
  var BONES = [[11, 12], [11, 13], [13, 15], [12, 14], [14, 16], [11, 23], [12, 24], [23, 24], [23, 25],
    [25, 27], [27, 29], [29, 31], [27, 31], [24, 26], [26, 28], [28, 30], [30, 32], [28, 32],
    [15, 17], [15, 19], [15, 21], [16, 18], [16, 20], [16, 22], [0, 11], [0, 12]];
  var MIN_VISIBILITY = 0.5;  // joints BlazePose itself thinks are out of sight are not drawn
  window.lastPose = undefined;  // the landmarks last drawn (tests read it)
  window.poseDrawn = 0;  // bones drawn for the last pose

  function overlay() {
    var img = $('camera');
    var canvas = $('pose-overlay');
    if (!canvas) {
      canvas = document.createElement('canvas');
      canvas.id = 'pose-overlay';
      canvas.style.position = 'absolute';
      canvas.style.pointerEvents = 'none';
      img.parentNode.style.position = img.parentNode.style.position || 'relative';
      img.parentNode.insertBefore(canvas, img.nextSibling);
    }
    canvas.style.left = img.offsetLeft + 'px';
    canvas.style.top = img.offsetTop + 'px';
    canvas.width = img.clientWidth || 1;
    canvas.height = img.clientHeight || 1;
    return canvas;
  }

  function drawPose(pose) {
    var canvas = overlay();
    var ctx = canvas.getContext('2d');
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    window.lastPose = pose;
    window.poseDrawn = 0;
    if (!pose) return;
    var w = canvas.width, h = canvas.height;
    ctx.lineWidth = 3;
    ctx.strokeStyle = '#3cf';
    ctx.fillStyle = '#fc3';
    BONES.forEach(function (b) {
      var a = pose[b[0]], c = pose[b[1]];
      if (!a || !c || a[2] < MIN_VISIBILITY || c[2] < MIN_VISIBILITY) return;
      ctx.beginPath();
      ctx.moveTo(a[0] * w, a[1] * h);
      ctx.lineTo(c[0] * w, c[1] * h);
      ctx.stroke();
      window.poseDrawn += 1;
    });
    pose.forEach(function (p) {
      if (p[2] < MIN_VISIBILITY) return;
      ctx.beginPath();
      ctx.arc(p[0] * w, p[1] * h, 3, 0, 2 * Math.PI);
      ctx.fill();
    });
  }
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
  addEventListener('actionrec:framing', function (e) { $('framing').textContent = e.detail.message; });
  addEventListener('actionrec:end', function (e) {
    $('stats').textContent = 'source ended: ' + e.detail.message;
  });
})();
