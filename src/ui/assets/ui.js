// Status page: refresh the live part every second; admin buttons call the JSON API.
(function () {
  'use strict';
  var live = document.getElementById('live');
  var status = document.getElementById('live-status');
  if (!live) return;
  var url = live.getAttribute('data-live') + '?fragment=live';
  var last = null;
  var busy = false;

  function refresh() {
    if (busy) return;
    busy = true;
    fetch(url, { credentials: 'same-origin', cache: 'no-store' })
      .then(function (r) {
        if (!r.ok) throw new Error('HTTP ' + r.status);
        return r.text();
      })
      .then(function (html) {
        if (html !== last) { live.innerHTML = html; last = html; }
        status.textContent = 'live'; status.className = 'live';
      })
      .catch(function (e) {
        status.textContent = 'not updating (' + e.message + ')'; status.className = 'stale';
      })
      .then(function () { busy = false; });
  }
  setInterval(refresh, 1000);

  var result = document.getElementById('action-result');
  function show(text, ok) {
    if (!result) return;
    result.textContent = text; result.className = ok ? 'result ok' : 'result bad'; result.hidden = false;
  }
  document.addEventListener('click', function (ev) {
    var b = ev.target.closest && ev.target.closest('button[data-method]');
    if (!b) return;
    var confirmText = b.getAttribute('data-confirm');
    if (confirmText && !window.confirm(confirmText)) return;
    var body;
    var ask = b.getAttribute('data-reason');
    if (ask) {
      var reason = window.prompt(ask, '');
      if (reason === null) return;
      body = JSON.stringify({ reason: reason });
    } else if (b.getAttribute('data-method') === 'POST') {
      body = '{}';
    }
    b.disabled = true;
    fetch(b.getAttribute('data-url'), {
      method: b.getAttribute('data-method'), credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json' }, body: body
    }).then(function (r) {
      return r.text().then(function (t) {
        var msg = t;
        try { var j = JSON.parse(t); msg = j.error ? j.error + (j.error_context ? ' ' + JSON.stringify(j.error_context) : '') : 'done'; } catch (e) {}
        show(b.textContent + ': ' + (r.ok ? 'done' : r.status + ' ' + msg), r.ok);
      });
    }).catch(function (e) { show(b.textContent + ': ' + e.message, false); })
      .then(function () { b.disabled = false; refresh(); });
  });
}());
