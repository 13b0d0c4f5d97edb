/*
 * The record page: shows the camera, cues each take ("ROUNDHOUSE KICK in 3, 2, 1, GO!") from the
 * server's state messages, and sends Redo / Drop for the latest take ({type: 'redo'|'drop', take: id}).
 * The server owns the schedule; this page only draws its latest state (window.recordState, for tests).
 */
(function () {
  'use strict';

  var $ = function (id) { return document.getElementById(id); };
  var lastPicture = null;
  var shownTake = null;  // the take whose progress bar is running

  window.recordState = null;

  function cue(state) {
    var take = state.take;
    if (state.phase === 'countdown') return take.cue + ' in ' + state.count;
    if (state.phase === 'recording') return take.cue + ': GO!';
    if (state.phase === 'review') return 'last take: keep it?';
    if (state.phase === 'done') return 'all takes done';
    if (state.phase === 'stopped') return 'recording stopped';
    return 'get ready\u2026';
  }

  function runBar(state) {
    var bar = $('bar');
    var id = state.phase === 'recording' ? state.take.id : null;
    if (id === shownTake) return;
    shownTake = id;
    bar.style.transition = 'none';
    bar.style.width = '0';
    if (id === null) return;
    void bar.offsetWidth;  // restart the transition from an empty bar
    bar.style.transition = 'width ' + state.take.seconds + 's linear';
    bar.style.width = '100%';
  }

  function showCounts(counts) {
    var table = $('counts');
    table.textContent = '';
    Object.keys(counts).sort().forEach(function (label) {
      var row = table.insertRow();
      row.insertCell().textContent = label;
      row.insertCell().textContent = counts[label];
    });
  }

  function render(state) {
    window.recordState = state;
    document.body.dataset.phase = state.phase;
    $('cue').textContent = cue(state);
    $('cue').className = state.phase;
    runBar(state);
    if (state.of !== undefined) {
      $('takes').textContent = 'kept ' + state.kept + ' of ' + state.of + ' takes (' + state.redone +
        ' redone, ' + state.dropped + ' dropped)';
      showCounts(state.counts || {});
    }
    var target = state.target;
    $('target').textContent = !target ? 'none' :
      'take ' + target.id + ': ' + target.label +
      (target.path ? ' \u2192 ' + target.path : target.recording ? ' (recording)' : ' (next)');
    $('target').dataset.take = target ? target.id : '';
    $('redo').disabled = $('drop').disabled = !target;
  }

  function command(type) {
    var target = window.recordState && window.recordState.target;
    if (!target) return;
    window.ActionrecBridge.send({ type: type, take: target.id });
    $('redo').disabled = $('drop').disabled = true;  // until the server's next state
  }

  $('redo').addEventListener('click', function () { command('redo'); });
  $('drop').addEventListener('click', function () { command('drop'); });

  addEventListener('actionrec:status', function (e) {
    var s = $('status');
    s.textContent = e.detail.connected ? 'connected' : 'reconnecting in ' + e.detail.retryMs + ' ms';
    s.className = e.detail.connected ? 'online' : 'offline';
  });
  addEventListener('actionrec:hello', function (e) {
    var d = e.detail;
    $('who').textContent = d.person + ' \u2192 ' + d.dataset + (d.continuous ? ' (one continuous video)' : '') +
      ', source ' + d.source;
  });
  addEventListener('actionrec:state', function (e) { render(e.detail); });
  addEventListener('actionrec:frame', function (e) {
    if (lastPicture) URL.revokeObjectURL(lastPicture);
    lastPicture = URL.createObjectURL(e.detail);
    $('camera').src = lastPicture;
  });
  addEventListener('actionrec:notice', function (e) { $('notice').textContent = e.detail.text; });
  addEventListener('actionrec:end', function (e) {
    $('notice').textContent = e.detail.message;
    $('summary').textContent = (e.detail.summary || []).join('\n');
    $('redo').disabled = $('drop').disabled = true;
  });
})();
