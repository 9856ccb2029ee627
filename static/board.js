// The supervisor's board refreshes itself every few seconds (data-refresh on #board): the page is
// fetched again and its #board swapped in. Without JavaScript the Refresh link does the same.
(function () {
  "use strict";
  var board = document.getElementById("board");
  if (!board || !window.fetch || !window.DOMParser) { return; }
  var seconds = parseInt(board.getAttribute("data-refresh"), 10) || 5;
  var busy = false;
  function refresh() {
    if (busy || document.hidden) { return; }
    busy = true;
    fetch(window.location.href, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) {
        if (!html) { return; }
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("board");
        var current = document.getElementById("board");
        if (fresh && current) { current.replaceWith(document.importNode(fresh, true)); }
      })
      .catch(function () { /* the next round tries again; the Refresh link still works */ })
      .then(function () { busy = false; });
  }
  window.setInterval(refresh, seconds * 1000);
}());
