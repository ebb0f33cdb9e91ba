(function () {
  'use strict';
  var table = document.getElementById('plot-table');
  var filters = { category: '', kind: '', status: '' };
  function apply() {
    if (!table) return;
    var rows = table.tBodies[0].rows, shown = 0;
    for (var i = 0; i < rows.length; i++) {
      var row = rows[i], ok = true;
      for (var dim in filters) {
        var want = filters[dim];
        if (want && (row.getAttribute('data-' + dim) || '').split(' ').indexOf(want) < 0) { ok = false; break; }
      }
      row.hidden = !ok;
      if (ok) shown++;
    }
    document.getElementById('shown').textContent = shown + ' of ' + rows.length + ' plots shown';
  }
  Array.prototype.forEach.call(document.querySelectorAll('button.filter'), function (b) {
    b.addEventListener('click', function () {
      var dim = b.getAttribute('data-dim');
      filters[dim] = b.getAttribute('data-value');
      Array.prototype.forEach.call(document.querySelectorAll('button.filter[data-dim="' + dim + '"]'), function (o) {
        o.setAttribute('aria-pressed', o === b ? 'true' : 'false');
      });
      apply();
    });
  });
  function key(row, i, numeric) {
    var cell = row.cells[i];
    var v = cell.hasAttribute('data-sort') ? cell.getAttribute('data-sort') : cell.textContent.trim();
    return numeric ? parseFloat(v) || 0 : v;
  }
  if (table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th) {
      th.addEventListener('click', function () {
        var i = th.cellIndex, numeric = th.getAttribute('data-sort') === 'num';
        var asc = th.getAttribute('aria-sort') !== 'ascending';
        Array.prototype.forEach.call(table.tHead.rows[0].cells, function (o) { o.setAttribute('aria-sort', 'none'); });
        th.setAttribute('aria-sort', asc ? 'ascending' : 'descending');
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) {
          var x = key(a, i, numeric), y = key(b, i, numeric);
          var c = numeric ? x - y : String(x).localeCompare(String(y));
          return asc ? c : -c;
        });
        rows.forEach(function (r) { body.appendChild(r); });
      });
    });
  }
  Array.prototype.forEach.call(document.querySelectorAll('button.mode-btn'), function (b) {
    b.addEventListener('click', function () {
      var fc = b.getAttribute('data-mode') === 'false';
      document.body.classList.toggle('false-colour', fc);
      Array.prototype.forEach.call(document.querySelectorAll('button.mode-btn'), function (o) {
        o.setAttribute('aria-pressed', o === b ? 'true' : 'false');
      });
    });
  });
  function openTarget() {
    var id = decodeURIComponent(location.hash.slice(1));
    var el = id && document.getElementById(id);
    if (el && el.tagName === 'DETAILS') el.open = true;
  }
  window.addEventListener('hashchange', openTarget);
  openTarget();
})();
