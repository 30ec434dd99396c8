
(function () {
  "use strict";
  var d = document;
  function each(list, fn) { Array.prototype.forEach.call(list, fn); }
  function key(row, i) {
    var cell = row.cells[i];
    if (!cell) { return ""; }
    var value = cell.getAttribute("data-sort");
    return value === null ? cell.textContent.trim().toLowerCase() : value;
  }
  function sortBy(table, i, th) {
    var dir = th.getAttribute("aria-sort") === "ascending" ? -1 : 1;
    each(table.tHead.rows[0].cells, function (c) { c.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", dir === 1 ? "ascending" : "descending");
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    var numeric = rows.every(function (r) { var k = key(r, i); return k === "" || !isNaN(k); });
    rows.sort(function (a, b) {
      var x = key(a, i), y = key(b, i);
      if (numeric) {
        x = x === "" ? -Infinity : Number(x);
        y = y === "" ? -Infinity : Number(y);
        return dir * (x - y) || 0;
      }
      return dir * x.localeCompare(y);
    });
    rows.forEach(function (r) { body.appendChild(r); });
  }
  each(d.querySelectorAll("table.sortable"), function (table) {
    each(table.tHead.rows[0].cells, function (th, i) {
      var button = d.createElement("button");
      button.type = "button";
      button.className = "sort";
      button.title = "Sort by this column";
      while (th.firstChild) { button.appendChild(th.firstChild); }
      th.appendChild(button);
      button.addEventListener("click", function () { sortBy(table, i, th); });
    });
  });
  var form = d.getElementById("filters");
  if (!form) { return; }
  var rows = d.querySelectorAll("tr[data-outcomes]");
  var shown = d.getElementById("shown");
  function apply() {
    var text = form.elements.q.value.trim().toLowerCase();
    var wanted = {};
    each(form.querySelectorAll("input[name=outcome]"), function (c) {
      wanted[c.value] = c.checked;
    });
    var confirmedOnly = form.elements.confirmed.checked;
    var count = 0;
    each(rows, function (r) {
      var visible = r.getAttribute("data-outcomes").split(" ")
          .some(function (o) { return wanted[o]; })
        && (!confirmedOnly || r.getAttribute("data-confirmed") === "1")
        && (!text || ((r.getAttribute("data-context") || "") + " " + r.textContent)
          .toLowerCase().indexOf(text) >= 0);
      r.hidden = !visible;
      if (visible) { count += 1; }
    });
    each(d.querySelectorAll("[data-group]"), function (g) {
      g.hidden = !g.querySelector("tr[data-outcomes]:not([hidden])");
    });
    shown.textContent = count + " of " + rows.length + " rows shown";
  }
  form.addEventListener("input", apply);
  form.addEventListener("change", apply);
  form.addEventListener("submit", function (e) { e.preventDefault(); });
  form.hidden = false;
  apply();
})();
