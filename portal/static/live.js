// Live numbers: each stats update from /api/live_stats refreshes the elements that name a
// pool field (data-pool + data-field) or a global one (data-global).
(function () {
  if (!window.EventSource) return;
  // Numbers as the server renders them: three decimals at most, tiny ones in e-notation.
  function readable(value) {
    if (typeof value !== 'number' || Number.isInteger(value)) return String(value);
    if (value !== 0 && Math.abs(value) < 1e-3) return value.toExponential(3);
    return value.toFixed(3).replace(/\.?0+$/, '');
  }
  var source = new EventSource('/api/live_stats');
  source.onmessage = function (event) {
    var stats = JSON.parse(event.data);
    if (!stats.pools) return;
    document.querySelectorAll('[data-pool]').forEach(function (el) {
      var value = el.dataset.field.split('.').reduce(function (o, key) {
        return o == null ? o : o[key];
      }, stats.pools[el.dataset.pool]);
      if (value != null) el.textContent = readable(value);
    });
    var workers = document.querySelector('[data-global=workers]');
    if (workers) workers.textContent = stats.global.workers;
    var updated = document.getElementById('updated');
    if (updated) updated.textContent = new Date(stats.time * 1000).toISOString();
    document.body.dataset.live = String(stats.time);
  };
})();
