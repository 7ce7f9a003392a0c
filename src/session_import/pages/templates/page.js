"use strict";
// Sorting, filtering and pages for the tables of rejected rows. Rows are moved and hidden,
// never written: every text on the page was escaped when the page was made.
(function () {
  function setUp(table) {
    var tools = table.previousElementSibling;
    if (!tools || !tools.classList.contains("table-tools")) { return; }
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    var size = parseInt(table.getAttribute("data-page-size"), 10) || 50;
    var reason = tools.querySelector(".reason-filter");
    var text = tools.querySelector(".text-filter");
    var shown = tools.querySelector(".shown");
    var pageLabel = tools.querySelector(".page");
    var prev = tools.querySelector(".prev");
    var next = tools.querySelector(".next");
    var page = 0;
    var matching = rows;
    var lowered = new Map(rows.map(function (row) { return [row, row.textContent.toLowerCase()]; }));

    function filter() {
      var wanted = reason.value ? " " + reason.value + " " : "";
      var needle = text.value.trim().toLowerCase();
      matching = [];
      rows.forEach(function (row) {
        var keep = (!wanted || row.getAttribute("data-reasons").indexOf(wanted) !== -1) &&
          (!needle || lowered.get(row).indexOf(needle) !== -1);
        row.setAttribute("data-match", keep ? "1" : "0");
        if (keep) { matching.push(row); }
      });
      page = 0;
      draw();
    }

    function draw() {
      var pages = Math.max(1, Math.ceil(matching.length / size));
      page = Math.min(page, pages - 1);
      var first = page * size;
      var inPage = new Set(matching.slice(first, first + size));
      rows.forEach(function (row) { row.hidden = !inPage.has(row); });
      var last = Math.min(first + size, matching.length);
      shown.textContent = matching.length ? (first + 1) + "–" + last + " of " + matching.length + " rows"
        : "no row matches";
      pageLabel.textContent = "page " + (page + 1) + " of " + pages;
      prev.disabled = page === 0;
      next.disabled = page >= pages - 1;
    }

    function sortBy(button) {
      var key = button.getAttribute("data-key");
      var dir = button.getAttribute("data-dir") === "asc" ? "desc" : "asc";
      table.querySelectorAll("button.sort").forEach(function (b) { b.removeAttribute("data-dir"); });
      button.setAttribute("data-dir", dir);
      var sign = dir === "asc" ? 1 : -1;
      var keyOf = key === "line"
        ? function (row) { return parseInt(row.getAttribute("data-line"), 10); }
        : function (row) { return row.cells[2].textContent; };
      var keys = new Map(rows.map(function (row) { return [row, keyOf(row)]; }));
      rows.sort(function (a, b) {
        var x = keys.get(a), y = keys.get(b);
        if (x < y) { return -sign; }
        if (x > y) { return sign; }
        return parseInt(a.getAttribute("data-line"), 10) - parseInt(b.getAttribute("data-line"), 10);
      });
      var fragment = document.createDocumentFragment();
      rows.forEach(function (row) { fragment.appendChild(row); });
      body.appendChild(fragment);
      matching = rows.filter(function (row) { return row.getAttribute("data-match") !== "0"; });
      draw();
    }

    reason.addEventListener("change", filter);
    text.addEventListener("input", filter);
    prev.addEventListener("click", function () { page -= 1; draw(); });
    next.addEventListener("click", function () { page += 1; draw(); });
    table.querySelectorAll("button.sort").forEach(function (button) {
      button.addEventListener("click", function () { sortBy(button); });
    });
    tools.hidden = false;
    filter();
  }

  function openTarget() {
    var id = decodeURIComponent(location.hash.slice(1));
    var target = id && document.getElementById(id);
    if (target && target.tagName === "DETAILS") { target.open = true; }
  }

  document.querySelectorAll("table.rows").forEach(setUp);
  window.addEventListener("hashchange", openTarget);
  openTarget();
}());
