// The events list's live tail: new events arrive from /events/tail (server-sent
// events) and are put on top of the table. Reading works without JavaScript.
(function () {
  var body = document.querySelector("tbody[data-live-tail]");
  if (!body || !window.EventSource) return;
  var source = new EventSource(body.getAttribute("data-live-tail"));
  // data-tail-state says whether new events can arrive now ("open") or the
  // browser is reconnecting; the browser tests wait on it before posting.
  source.addEventListener("open", function () { body.setAttribute("data-tail-state", "open"); });
  source.addEventListener("error", function () { body.setAttribute("data-tail-state", "reconnecting"); });
  source.addEventListener("event", function (message) {
    var e = JSON.parse(message.data);
    var empty = body.querySelector("tr.empty");
    if (empty) empty.remove();
    var row = document.createElement("tr");
    row.className = "fresh";
    var cells = [e.id, e.kind, e.source, e.received_at, e.sightings, e.intent || "", e.dedupe_key];
    cells.forEach(function (value, i) {
      var cell = document.createElement("td");
      if (i === 0) {
        var link = document.createElement("a");
        link.href = "/events/" + value;
        link.textContent = value;
        cell.appendChild(link);
      } else if (i === 6) {
        var code = document.createElement("code");
        code.textContent = value;
        cell.appendChild(code);
      } else {
        cell.textContent = value;
      }
      row.appendChild(cell);
    });
    body.insertBefore(row, body.firstChild);
  });
})();
